//! Windowed statistics over `quakes`: tumbling 1 h and 1 d windows and a 24 h window hopping
//! every hour, for the world, each Flinn-Engdahl region and each magnitude band, written to
//! `quake-stats`.

pub mod batch;
pub mod global;
pub mod local;
pub mod msg;
pub mod record;

pub use global::WindowSettings;
pub use record::{DEFAULT_STATS_TOPIC, Kind, StatsRecord};

use crate::processor::{GlobalTask, LocalTask, Processor};

/// The processor's name: its topics are `{app}-stats-repartition` and `{app}-stats-changelog`.
pub const NAME: &str = "stats";

pub struct StatsProcessor {
    pub output_topic: String,
    pub windows: WindowSettings,
}

impl Processor for StatsProcessor {
    fn name(&self) -> &'static str {
        NAME
    }
    fn output_topic(&self) -> &str {
        &self.output_topic
    }
    fn local(&self, partition: i32) -> Box<dyn LocalTask> {
        Box::new(local::StatsLocal::new(partition))
    }
    fn global(&self, _partition: i32) -> Box<dyn GlobalTask> {
        Box::new(global::StatsGlobal::new(self.windows))
    }
}
