#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace latentmorph {

/** A bounded, lock-free, single-producer single-consumer FIFO.

    Exactly one thread may call push() and exactly one (other) thread may call pop().
    Both are wait-free, real-time safe and do not allocate: the slots live inside the object.
    Elements are moved in and out, so a slot never destroys a live value on either side: pop()
    leaves the slot moved-from (for std::shared_ptr: null), and push() only ever assigns into
    such a moved-from slot. The caller is responsible for what it does with the popped value.
*/
template <typename T, std::size_t Capacity>
class SpscQueue
{
    static_assert (Capacity >= 2 && (Capacity & (Capacity - 1)) == 0, "Capacity must be a power of two");
    static_assert (std::is_nothrow_move_assignable_v<T>, "elements must move without throwing");

public:
    /** Producer thread only. Returns false (and leaves `value` untouched) when the queue is full.
        Real-time safe, does not allocate. */
    bool push (T&& value) noexcept
    {
        const auto tail = tail_.load (std::memory_order_relaxed);

        if (tail - head_.load (std::memory_order_acquire) == Capacity)
            return false;

        slots_[tail & (Capacity - 1)] = std::move (value);
        tail_.store (tail + 1, std::memory_order_release);
        return true;
    }

    /** Producer thread only. True when a push() would fail right now. */
    bool isFull() const noexcept
    {
        return tail_.load (std::memory_order_relaxed) - head_.load (std::memory_order_acquire) == Capacity;
    }

    /** Consumer thread only. Moves the oldest element into `out`; false when empty.
        `out` is move-assigned, so pass an empty value if its destruction must not free anything.
        Real-time safe, does not allocate. */
    bool pop (T& out) noexcept
    {
        const auto head = head_.load (std::memory_order_relaxed);

        if (head == tail_.load (std::memory_order_acquire))
            return false;

        out = std::move (slots_[head & (Capacity - 1)]);
        head_.store (head + 1, std::memory_order_release);
        return true;
    }

private:
    std::array<T, Capacity> slots_ {};
    alignas (64) std::atomic<std::size_t> head_ { 0 }; // next slot to pop; written by the consumer
    alignas (64) std::atomic<std::size_t> tail_ { 0 }; // next slot to push; written by the producer
};

} // namespace latentmorph
