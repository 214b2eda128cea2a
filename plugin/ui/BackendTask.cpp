#include "ui/BackendTask.h"

namespace latentmorph {

BackendTask::BackendTask() : alive_ (std::make_shared<bool> (true)) {}

BackendTask::~BackendTask()
{
    alive_.reset(); // a result already queued on the message thread is now dropped
    ++generation_;  // the running request is abandoned at its next poll (every 50 ms)
    worker_.removeAllJobs (true, 5000);
}

} // namespace latentmorph
