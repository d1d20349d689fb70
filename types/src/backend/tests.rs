use {
    super::*,
    crate::{
        AllocationFlags, DeviceMapError, HeapBudget, MappedMemoryRange, MemoryDevice, OutOfMemory,
    },
    alloc::{format, string::String, vec::Vec},
    core::{cell::RefCell, ptr::NonNull},
};

/// Records every call it gets, with its arguments, and answers from fixed values.
#[derive(Default)]
struct Recorder {
    calls: RefCell<Vec<String>>,
    /// The mapping every `map_memory` returns.
    mapping: [u8; 4],
}

impl Recorder {
    fn log(&self, call: String) {
        self.calls.borrow_mut().push(call);
    }
}

impl MemoryDevice<u64> for Recorder {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<u64, OutOfMemory> {
        self.log(format!("allocate {size} {memory_type} {flags:?}"));
        if memory_type == 9 {
            return Err(OutOfMemory::OutOfHostMemory);
        }
        Ok(size * 10 + u64::from(memory_type))
    }

    unsafe fn deallocate_memory(&self, memory: u64) {
        self.log(format!("free {memory}"));
    }

    unsafe fn map_memory(
        &self,
        memory: &mut u64,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        self.log(format!("map {memory} {offset} {size}"));
        if *memory == 0 {
            return Err(DeviceMapError::MapFailed);
        }
        Ok(NonNull::from(&self.mapping).cast())
    }

    unsafe fn unmap_memory(&self, memory: &mut u64) {
        self.log(format!("unmap {memory}"));
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, u64>],
    ) -> Result<(), OutOfMemory> {
        let r = &ranges[0];
        self.log(format!("invalidate {} {} {}", r.memory, r.offset, r.size));
        Ok(())
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, u64>],
    ) -> Result<(), OutOfMemory> {
        let r = &ranges[0];
        self.log(format!("flush {} {} {}", r.memory, r.offset, r.size));
        Err(OutOfMemory::OutOfDeviceMemory)
    }

    fn memory_budget(&self, budgets: &mut [HeapBudget]) -> bool {
        self.log(format!("budget {}", budgets.len()));
        budgets.fill(HeapBudget {
            budget: 5,
            usage: 6,
        });
        true
    }
}

/// Forwards to a borrowed recorder, and reads budgets of its own when `own` is
/// set.
struct Wrapper<'a> {
    inner: &'a Recorder,
    own: Option<HeapBudget>,
}

impl Wrapper<'_> {
    fn recorder(&self) -> &Recorder {
        self.inner
    }

    fn read_heap_budgets(&self, budgets: &mut [HeapBudget]) -> bool {
        match self.own {
            Some(own) => {
                budgets.fill(own);
                true
            }
            None => self.inner.memory_budget(budgets),
        }
    }
}

crate::forward_memory_device! {
    impl['a] MemoryDevice<u64> for Wrapper<'a> { inner: recorder, budget: read_heap_budgets }
}

/// A generic forwarder: the impl's type parameters go in the brackets.
struct Generic<D>(D, bool);

impl<D> Generic<D> {
    fn inner(&self) -> &D {
        &self.0
    }

    fn budgets(&self, _: &mut [HeapBudget]) -> bool {
        self.1
    }
}

crate::forward_memory_device! {
    impl[D: MemoryDevice<u64>] MemoryDevice<u64> for Generic<D> { inner: inner, budget: budgets }
}

#[test]
fn every_operation_reaches_the_inner_device_unchanged() {
    let recorder = Recorder::default();
    let device = Wrapper {
        inner: &recorder,
        own: None,
    };
    // SAFETY: the recorder has no rules; it only logs.
    unsafe {
        let mut memory = device
            .allocate_memory(7, 3, AllocationFlags::DEVICE_ADDRESS)
            .unwrap();
        assert_eq!(memory, 73);
        assert_eq!(
            device.allocate_memory(1, 9, AllocationFlags::empty()),
            Err(OutOfMemory::OutOfHostMemory)
        );
        let ptr = device.map_memory(&mut memory, 2, 5).unwrap();
        assert_eq!(ptr, NonNull::from(&recorder.mapping).cast());
        assert_eq!(
            device.map_memory(&mut 0, 0, 1),
            Err(DeviceMapError::MapFailed)
        );
        let range = [MappedMemoryRange {
            memory: &memory,
            offset: 4,
            size: 8,
        }];
        assert_eq!(device.invalidate_memory_ranges(&range), Ok(()));
        assert_eq!(
            device.flush_memory_ranges(&range),
            Err(OutOfMemory::OutOfDeviceMemory)
        );
        device.unmap_memory(&mut memory);
        device.deallocate_memory(memory);
    }
    assert_eq!(
        *recorder.calls.borrow(),
        [
            "allocate 7 3 AllocationFlags(DEVICE_ADDRESS)",
            "allocate 1 9 AllocationFlags(0x0)",
            "map 73 2 5",
            "map 0 0 1",
            "invalidate 73 4 8",
            "flush 73 4 8",
            "unmap 73",
            "free 73",
        ]
    );
}

#[test]
fn budgets_come_from_read_heap_budgets() {
    let recorder = Recorder::default();
    let own = HeapBudget {
        budget: 100,
        usage: 1,
    };
    let mut budgets = [HeapBudget::default(); 3];
    let wrapper = Wrapper {
        inner: &recorder,
        own: Some(own),
    };
    assert!(wrapper.memory_budget(&mut budgets));
    assert_eq!(budgets, [own; 3]);
    // The inner device was not asked.
    assert!(recorder.calls.borrow().is_empty());

    // Without budgets of its own, it asks the inner device.
    let asks = Wrapper {
        inner: &recorder,
        own: None,
    };
    assert!(asks.memory_budget(&mut budgets[..2]));
    assert_eq!(*recorder.calls.borrow(), ["budget 2"]);
    let inner = HeapBudget {
        budget: 5,
        usage: 6,
    };
    assert_eq!(budgets, [inner, inner, own]);
}

#[test]
fn a_generic_forwarder_forwards() {
    let device = Generic(Recorder::default(), false);
    assert!(!device.memory_budget(&mut [HeapBudget::default()]));
    // SAFETY: the recorder has no rules; it only logs.
    let memory = unsafe { device.allocate_memory(2, 1, AllocationFlags::empty()) };
    assert_eq!(memory, Ok(21));
    // SAFETY: as above.
    unsafe { device.deallocate_memory(21) };
    assert_eq!(
        *device.0.calls.borrow(),
        ["allocate 2 1 AllocationFlags(0x0)", "free 21"]
    );
    assert!(Generic(Recorder::default(), true).memory_budget(&mut []));
}

#[test]
fn requirements_keep_the_api_values() {
    let req = MemoryRequirements::new(4097, 4096, 0b1010);
    assert_eq!(req.size, 4097);
    assert_eq!(req.align_mask, 4095);
    assert_eq!(req.memory_types, 0b1010);
    for shift in 0..64 {
        let alignment = 1u64 << shift;
        assert_eq!(
            MemoryRequirements::new(1, alignment, 1).align_mask,
            alignment - 1
        );
    }
    // Not a power of two: the mask says so (it is not 2^n - 1).
    let odd = MemoryRequirements::new(1, 48, 1).align_mask;
    assert_ne!(odd & (odd + 1), 0);
}
