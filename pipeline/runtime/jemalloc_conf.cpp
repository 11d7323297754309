// jemalloc's start-up options for the executables that link it (added to
// them by the dxnorm_allocator target; MALLOC_CONF in the environment still
// overrides). A running pipeline frees ~50 KB per message; with jemalloc's
// defaults those pages stay resident for 10 s, which on the embedded broker
// put the peak RSS past 300 MB. Purged after 1 s by jemalloc's own background
// thread instead (measured on bench_pipeline, 100,000 messages: peak RSS
// 280-340 MB -> ~240 MB, throughput unchanged; purging on the workers'
// threads instead cost ~5 us per message).
extern "C" {
// NOLINTNEXTLINE: the name and type jemalloc looks for.
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
