//! What a backend's `tracing` feature logs, checked the same way for ash, erupt
//! and gfx (their suites include this file): a subscriber that records every
//! event, and one round of device calls whose events must all be there.

use {
    gpu_alloc_types::{AllocationFlags, MappedMemoryRange, MemoryDevice},
    std::{
        fmt,
        sync::{Arc, Mutex},
    },
    tracing::{
        field::{Field, Visit},
        span, Event, Level, Metadata, Subscriber,
    },
};

/// One recorded event.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub level: Level,
    pub message: String,
    /// Every other field, as `name=value` (values through `Debug`).
    pub fields: Vec<String>,
}

/// Records every event of the thread it is the default subscriber of.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Recorded>>>,
}

impl Visit for Recorded {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut recorded = Recorded {
            level: *event.metadata().level(),
            message: String::new(),
            fields: Vec::new(),
        };
        event.record(&mut recorded);
        self.events.lock().unwrap().push(recorded);
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Allocates 256 bytes of `memory_type` (host-visible), maps, flushes,
/// invalidates, unmaps and frees them through `device` with a recording
/// subscriber, and checks that each call logged one event with the method's
/// name: allocations, frees, maps and unmaps at debug level with their
/// arguments, flushes and invalidations at trace level.
pub fn device_calls_are_logged<M>(device: &impl MemoryDevice<M>, memory_type: u32) {
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        // SAFETY: the caller passes a host-visible type index of `device`; the
        // object is small, mapped whole, not in use, and freed once.
        unsafe {
            let mut memory = device
                .allocate_memory(256, memory_type, AllocationFlags::empty())
                .expect("allocate");
            device.map_memory(&mut memory, 0, 256).expect("map");
            let whole = [MappedMemoryRange {
                memory: &memory,
                offset: 0,
                size: 256,
            }];
            device.flush_memory_ranges(&whole).expect("flush");
            device.invalidate_memory_ranges(&whole).expect("invalidate");
            device.unmap_memory(&mut memory);
            device.deallocate_memory(memory);
        }
    });
    let events = recorder.events.lock().unwrap().clone();
    let calls: Vec<(Level, &str)> = events
        .iter()
        .map(|e| (e.level, e.message.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            (Level::DEBUG, "allocate_memory"),
            (Level::DEBUG, "map_memory"),
            (Level::TRACE, "flush_memory_ranges"),
            (Level::TRACE, "invalidate_memory_ranges"),
            (Level::DEBUG, "unmap_memory"),
            (Level::DEBUG, "deallocate_memory"),
        ],
        "{events:#?}"
    );
    let allocate = &events[0].fields;
    for field in ["size=256", &format!("memory_type={memory_type}")] {
        assert!(
            allocate.iter().any(|f| f == field),
            "{field} in {allocate:?}"
        );
    }
    assert!(
        allocate.iter().any(|f| f.starts_with("result=Ok(")),
        "{allocate:?}"
    );
    for e in &events[2..4] {
        assert_eq!(e.fields, ["ranges=1"]);
    }
}
