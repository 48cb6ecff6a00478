//! placeholder
/// x
#[derive(Clone, Default)]
pub struct MemoryStore;
/// x
pub struct MemoryStoreBuilder;
