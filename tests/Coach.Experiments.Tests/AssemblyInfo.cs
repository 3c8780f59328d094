// Tests that load native libraries or open sockets are not safe to run in parallel collections.
[assembly: CollectionBehavior(DisableTestParallelization = false, MaxParallelThreads = 2)]
