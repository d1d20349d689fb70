//! What the backends' Vulkan tests make of the messages of their
//! `VK_EXT_debug_utils` messenger: one filter, one record, one set of checks,
//! so that the ash, erupt and gfx suites prove the same things the same way.
//!
//! Each suite turns its binding's callback arguments into a [`DebugMessage`] and
//! records it in a [`MessageLog`], every message from the creation of its
//! instance to its destruction, unfiltered. The checks then read the log:
//!
//! - **The filter** ([`verdict`]), the same in every suite: a warning or an
//!   error, of any type and from anyone (the layer, the loader, the driver), is
//!   a finding and fails the test. Verbose messages never do (the loader's
//!   trace). An info message fails too, unless it is one of three notes about
//!   the tools themselves rather than the application: the loader's progress
//!   reports (id `Loader Message`), the layer's status message
//!   ([`LAYER_STATUS_ID`]) and the layer's note about its own shader cache file
//!   ([`LAYER_CACHE_NOTE_ID`]).
//! - **The layer announced itself** ([`Evidence`]): the layer's status message,
//!   which it sends from `vkCreateInstance` (seen only by a messenger chained to
//!   the instance's create info), and the loader's note that it inserted the
//!   layer into a device's call chain (sent from `vkCreateDevice` to the
//!   instance's messengers). A run where neither arrives did not validate
//!   anything, whatever the filter says.
//! - **A provoked error is caught** ([`provoke_validation_errors`],
//!   [`MessageLog::assert_caught`]): each suite breaks two valid-usage rules on
//!   purpose through its backend's `MemoryDevice` and finds the layer's report
//!   of each in its log.

use {
    gpu_alloc_types::{AllocationFlags, MappedMemoryRange, MemoryDevice},
    std::{
        fmt,
        sync::{Mutex, MutexGuard},
    },
};

/// The Khronos validation layer's name.
pub const VALIDATION_LAYER: &str = "VK_LAYER_KHRONOS_validation";

/// Message id of the status message the Khronos layer sends once, from
/// `vkCreateInstance`, to say it is active (with its version and settings).
pub const LAYER_STATUS_ID: &str = "UNASSIGNED-khronos-validation-createinstance-status-message";

/// Message id of the note the layer sends when its shader validation cache file
/// does not exist yet (the first run on a machine): about the layer's own
/// cache, not the application.
pub const LAYER_CACHE_NOTE_ID: &str = "UNASSIGNED-cache-file-error";

/// Message id of every message of the Vulkan loader.
pub const LOADER_ID: &str = "Loader Message";

/// What the loader says when it puts the validation layer into the call chain
/// of a device it creates.
pub const DEVICE_LAYER_NOTE: &str = "Inserted device layer \"VK_LAYER_KHRONOS_validation\"";

/// Severity of a debug-utils message (one bit of
/// `VkDebugUtilsMessageSeverityFlagBitsEXT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// `VERBOSE`: diagnostic trace.
    Verbose,
    /// `INFO`: informational.
    Info,
    /// `WARNING`: likely a bug of the application.
    Warning,
    /// `ERROR`: a broken valid-usage rule.
    Error,
}

/// One message of a debug messenger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugMessage {
    /// Its severity.
    pub severity: Severity,
    /// Its type bits as the binding prints them (`GENERAL`, `VALIDATION`,
    /// `PERFORMANCE`); for the record only, no check reads them.
    pub types: String,
    /// `pMessageIdName` (empty when null): a VUID for the layer's findings.
    pub id: String,
    /// `pMessage`.
    pub text: String,
}

impl fmt::Display for DebugMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:?} {}] {}: {}",
            self.severity, self.types, self.id, self.text
        )
    }
}

/// What a message means to a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The layer's status message: the layer is active on the instance.
    LayerActive,
    /// The loader inserted the layer into a device's call chain.
    LayerInDevice,
    /// A note about the loader or the layer themselves: passes.
    Note,
    /// A finding: fails the test.
    Fails,
}

/// The filter every backend suite applies (see the module docs).
pub fn verdict(message: &DebugMessage) -> Verdict {
    match message.severity {
        Severity::Warning | Severity::Error => Verdict::Fails,
        Severity::Verbose => Verdict::Note,
        Severity::Info => match message.id.as_str() {
            LAYER_STATUS_ID => Verdict::LayerActive,
            LOADER_ID if message.text.contains(DEVICE_LAYER_NOTE) => Verdict::LayerInDevice,
            LOADER_ID | LAYER_CACHE_NOTE_ID => Verdict::Note,
            _ => Verdict::Fails,
        },
    }
}

/// Which announcements of the layer a check requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// The layer's status message ([`Verdict::LayerActive`]); only a messenger
    /// chained to `VkInstanceCreateInfo` can see it.
    Instance,
    /// The loader's note for a device ([`Verdict::LayerInDevice`]).
    Device,
    /// Both.
    InstanceAndDevice,
    /// None: the suite runs without the layer, where that is allowed.
    None,
}

impl Evidence {
    fn requires(self) -> &'static [Verdict] {
        match self {
            Evidence::Instance => &[Verdict::LayerActive],
            Evidence::Device => &[Verdict::LayerInDevice],
            Evidence::InstanceAndDevice => &[Verdict::LayerActive, Verdict::LayerInDevice],
            Evidence::None => &[],
        }
    }
}

/// Every message one messenger delivered, in order, unfiltered.
#[derive(Debug, Default)]
pub struct MessageLog {
    messages: Mutex<Vec<DebugMessage>>,
}

impl MessageLog {
    fn lock(&self) -> MutexGuard<'_, Vec<DebugMessage>> {
        // A test that panicked while holding the lock left whole messages.
        self.messages
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a message; never panics, so messenger callbacks can call it.
    /// Failing messages are also printed to stderr as they arrive.
    pub fn record(&self, message: DebugMessage) {
        if verdict(&message) == Verdict::Fails {
            eprintln!("validation: {message}");
        }
        self.lock().push(message);
    }

    /// Every message recorded so far.
    pub fn messages(&self) -> Vec<DebugMessage> {
        self.lock().clone()
    }

    /// Forgets every message (for a log shared by tests that take turns).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Whether a message of this verdict was recorded.
    pub fn saw(&self, verdict_wanted: Verdict) -> bool {
        self.lock().iter().any(|m| verdict(m) == verdict_wanted)
    }

    /// The recorded messages that fail tests.
    pub fn failing(&self) -> Vec<DebugMessage> {
        self.lock()
            .iter()
            .filter(|m| verdict(m) == Verdict::Fails)
            .cloned()
            .collect()
    }

    /// Removes the failing messages whose id or text names `vuid` and returns
    /// how many there were: a test that provokes an error accounts for it.
    pub fn take_expected(&self, vuid: &str) -> usize {
        let mut messages = self.lock();
        let before = messages.len();
        messages.retain(|m| {
            !(verdict(m) == Verdict::Fails && (m.id.contains(vuid) || m.text.contains(vuid)))
        });
        before - messages.len()
    }

    /// Panics unless each provoked error was reported, then forgets those
    /// reports (and the companions each may come with), so that the log can
    /// still be checked for anything else.
    pub fn assert_caught(&self, provoked: &[ProvokedError]) {
        for error in provoked {
            assert!(
                self.take_expected(error.vuid) > 0,
                "{} ({}) was not reported; recorded:\n{}",
                error.vuid,
                error.how,
                self.messages()
                    .iter()
                    .map(DebugMessage::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            for companion in error.companions {
                self.take_expected(companion);
            }
        }
    }

    /// Panics unless the layer announced itself as `evidence` requires and no
    /// failing message was recorded; `what` names the run in the panic.
    pub fn assert_clean(&self, evidence: Evidence, what: &str) {
        let messages = self.messages();
        for &wanted in evidence.requires() {
            assert!(
                messages.iter().any(|m| verdict(m) == wanted),
                "{what}: the validation layer never announced itself ({wanted:?} missing \
                 among {} message(s)): is it really enabled?",
                messages.len()
            );
        }
        let failing: Vec<String> = messages
            .iter()
            .filter(|m| verdict(m) == Verdict::Fails)
            .map(DebugMessage::to_string)
            .collect();
        assert!(
            failing.is_empty(),
            "{what}: {} validation message(s):\n{}",
            failing.len(),
            failing.join("\n")
        );
    }
}

/// An error [`provoke_validation_errors`] made on purpose.
#[derive(Clone, Copy, Debug)]
pub struct ProvokedError {
    /// What was done.
    pub how: &'static str,
    /// The VUID the layer must report.
    pub vuid: &'static str,
    /// VUIDs the same call may also break, depending on the layer's version:
    /// accepted, not required.
    pub companions: &'static [&'static str],
}

/// Breaks two valid-usage rules of `vkFlushMappedMemoryRanges` through
/// `device`, to prove that the validation layer's reports reach the suite, and
/// returns what the layer must report:
///
/// - `VUID-VkMappedMemoryRange-memory-00684`: a flush of a memory object that
///   is not mapped (any device); its range then lies outside the mapped range
///   too, which layers report as `-size-00685`;
/// - `VUID-VkMappedMemoryRange-offset-00687`: a flush at offset 1, not a
///   multiple of `nonCoherentAtomSize` (only where `atom` is at least 2).
///
/// Each flush is of `atom` bytes of a fresh `4 * atom`-byte object of
/// `host_type`, freed right after; the flushes' results are ignored.
///
/// # Safety
///
/// - `host_type` is a host-visible memory type of `device`; `atom` is its
///   `nonCoherentAtomSize`.
/// - The driver tolerates both flushes (lavapipe's flush does nothing, its
///   memory being coherent): this is the one place that breaks the
///   `flush_memory_ranges` contract.
pub unsafe fn provoke_validation_errors<M>(
    device: &impl MemoryDevice<M>,
    host_type: u32,
    atom: u64,
) -> Vec<ProvokedError> {
    let size = 4 * atom;
    let mut expected = Vec::new();
    // SAFETY: a valid type and size; the object is never mapped and is freed
    // once; the flush of an unmapped object is the caller's to answer for.
    unsafe {
        let memory = device
            .allocate_memory(size, host_type, AllocationFlags::empty())
            .expect("allocate memory to flush unmapped");
        let _ = device.flush_memory_ranges(&[MappedMemoryRange {
            memory: &memory,
            offset: 0,
            size: atom,
        }]);
        device.deallocate_memory(memory);
    }
    expected.push(ProvokedError {
        how: "flush of a memory object that is not mapped",
        vuid: "VUID-VkMappedMemoryRange-memory-00684",
        companions: &["VUID-VkMappedMemoryRange-size-00685"],
    });
    if atom >= 2 {
        // SAFETY: as above; the object is mapped whole, then unmapped and freed;
        // the misaligned flush is the caller's to answer for.
        unsafe {
            let mut memory = device
                .allocate_memory(size, host_type, AllocationFlags::empty())
                .expect("allocate memory to flush misaligned");
            device
                .map_memory(&mut memory, 0, size)
                .expect("map memory to flush misaligned");
            let _ = device.flush_memory_ranges(&[MappedMemoryRange {
                memory: &memory,
                offset: 1,
                size: atom,
            }]);
            device.unmap_memory(&mut memory);
            device.deallocate_memory(memory);
        }
        expected.push(ProvokedError {
            how: "flush at offset 1, not a multiple of nonCoherentAtomSize",
            vuid: "VUID-VkMappedMemoryRange-offset-00687",
            companions: &[],
        });
    }
    expected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(severity: Severity, id: &str, text: &str) -> DebugMessage {
        DebugMessage {
            severity,
            types: "GENERAL".into(),
            id: id.into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_filter_passes_only_the_named_notes() {
        use {Severity::*, Verdict::*};
        let cases = [
            (Error, LOADER_ID, "x", Fails),
            (Warning, LAYER_STATUS_ID, "x", Fails),
            (Warning, "", "", Fails),
            (Info, "VUID-anything", "x", Fails),
            (Info, "", "", Fails),
            (
                Info,
                LAYER_STATUS_ID,
                "Khronos Validation Layer Active",
                LayerActive,
            ),
            (
                Info,
                LOADER_ID,
                "Inserted device layer \"VK_LAYER_KHRONOS_validation\" (x.so)",
                LayerInDevice,
            ),
            (
                Info,
                LOADER_ID,
                "Inserted device layer \"VK_LAYER_MESA_overlay\"",
                Note,
            ),
            (Info, LOADER_ID, "linux_read_sorted_physical_devices:", Note),
            (Info, LAYER_CACHE_NOTE_ID, "x", Note),
            (Verbose, "VUID-anything", "x", Note),
        ];
        for (severity, id, text, want) in cases {
            assert_eq!(verdict(&message(severity, id, text)), want, "{id}: {text}");
        }
    }

    #[test]
    fn the_log_wants_the_announcements_and_no_finding() {
        let log = MessageLog::default();
        let ok = |log: &MessageLog, evidence| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                log.assert_clean(evidence, "test")
            }))
            .is_ok()
        };
        assert!(ok(&log, Evidence::None));
        assert!(!ok(&log, Evidence::Instance));
        log.record(message(Severity::Info, LAYER_STATUS_ID, "active"));
        assert!(ok(&log, Evidence::Instance));
        assert!(!ok(&log, Evidence::InstanceAndDevice));
        log.record(message(Severity::Info, LOADER_ID, DEVICE_LAYER_NOTE));
        assert!(ok(&log, Evidence::InstanceAndDevice));
        log.record(message(Severity::Error, "VUID-a-1", "broken"));
        log.record(message(Severity::Error, "VUID-b-2", "broken"));
        assert!(!ok(&log, Evidence::None));
        assert_eq!(log.take_expected("VUID-a-1"), 1);
        assert_eq!(log.take_expected("VUID-a-1"), 0);
        assert!(!ok(&log, Evidence::None));
        assert_eq!(log.failing().len(), 1);
        assert_eq!(log.take_expected("VUID-b-2"), 1);
        assert!(ok(&log, Evidence::InstanceAndDevice));
        log.clear();
        assert!(log.messages().is_empty());
    }
}
