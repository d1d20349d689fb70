//! Operations on the memory of live blocks: writes, reads, maps, flushes and
//! device-side writes, each checked against the record of written bytes and
//! the documented errors.

use {
    super::{pattern, Model},
    gpu_alloc::MapError,
};

impl Model {
    /// `offset..offset + len` clipped to block `i`; `offset` lies inside it.
    fn clip(&self, i: usize, offset: u64, len: u64) -> (u64, u64) {
        let size = self.block_size(i);
        assert!(
            offset < size,
            "offset {offset} past a block of {size} bytes"
        );
        (offset, len.min(size - offset))
    }

    /// Reads `len` bytes at `offset` of block `i`: through its pointer (after an
    /// invalidate) when mapped, else with `read_bytes`.
    fn read_block(&mut self, i: usize, offset: u64, len: u64) -> Result<Vec<u8>, MapError> {
        let Model { harness, live, .. } = self;
        let live = &mut live[i];
        let mut bytes = vec![0u8; len as usize];
        match live.mapped {
            Some(ptr) => {
                harness.invalidate(&mut live.block, offset, len)?;
                // SAFETY: the block is mapped from its start over its whole size and
                // `offset + len` lies inside it; the device does not write now.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        ptr.as_ptr().add(offset as usize),
                        bytes.as_mut_ptr(),
                        bytes.len(),
                    )
                };
            }
            None => harness.read(&mut live.block, offset, &mut bytes)?,
        }
        Ok(bytes)
    }

    /// Writes `bytes` at `offset` of block `i`: through its pointer (then a flush)
    /// when mapped, else with `write_bytes`.
    fn write_block(&mut self, i: usize, offset: u64, bytes: &[u8]) -> Result<(), MapError> {
        let Model { harness, live, .. } = self;
        let live = &mut live[i];
        match live.mapped {
            Some(ptr) => {
                // SAFETY: as in `read_block`; the device does not read now.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        ptr.as_ptr().add(offset as usize),
                        bytes.len(),
                    )
                };
                harness.flush(&mut live.block, offset, bytes.len() as u64)
            }
            None => harness.write(&mut live.block, offset, bytes),
        }
    }

    /// Reads back every byte written to block `i` and compares it with the
    /// record. A map failure, which only an injected one may cause, is retried
    /// with faults off.
    pub(super) fn verify(&mut self, i: usize) {
        for (offset, len) in self.live[i].written.spans() {
            let before = self.tally();
            let bytes = match self.read_block(i, offset, len) {
                Ok(bytes) => bytes,
                Err(error) => {
                    let injected = self.injected_since(before);
                    assert!(
                        error == MapError::MapFailed && injected.maps > 0,
                        "reading {offset}+{len}: {error:?} (failures injected: {injected:?})"
                    );
                    let device = &self.harness.device;
                    device.set_fault_rates(0.0, 0.0);
                    device.fail_next_maps(0);
                    let bytes = self
                        .read_block(i, offset, len)
                        .unwrap_or_else(|e| panic!("reading {offset}+{len} without faults: {e:?}"));
                    let (alloc_rate, map_rate) = self.rates;
                    self.harness.device.set_fault_rates(alloc_rate, map_rate);
                    bytes
                }
            };
            self.live[i].check(offset, &bytes);
        }
    }

    /// Writes the [`pattern`] of `byte` to `offset..offset + len` of block `i`
    /// (clipped to it): served only in host-visible memory and without a map
    /// failure, and then recorded; a failed map writes nothing.
    pub fn write(&mut self, i: usize, offset: u64, len: u64, byte: u8) {
        let (offset, len) = self.clip(i, offset, len);
        let bytes: Vec<u8> = (offset..offset + len).map(|p| pattern(byte, p)).collect();
        let before = self.tally();
        let result = self.write_block(i, offset, &bytes);
        let injected = self.injected_since(before);
        let live = &mut self.live[i];
        match result {
            Ok(()) => {
                assert!(
                    live.host_visible(),
                    "wrote to a block that is not host-visible"
                );
                assert_eq!(injected.maps, 0, "a write succeeded without its map");
                live.written.record(offset, &bytes);
            }
            Err(MapError::NonHostVisible) => assert!(!live.host_visible()),
            Err(MapError::MapFailed) if injected.maps > 0 && live.mapped.is_none() => {
                // A failed map writes nothing; the data must be as before.
                assert!(!live.block.is_mapped());
            }
            Err(error) => panic!("write {offset}+{len}: {error:?} ({injected:?} injected)"),
        }
    }

    /// Reads a written range of block `i` (the `which`-th, modulo their
    /// number) and checks it; with nothing written, reads byte 0, which must
    /// work or fail for its documented reason.
    pub fn read(&mut self, i: usize, which: usize) {
        let spans = self.live[i].written.spans();
        if spans.is_empty() {
            let mut byte = [0u8; 1];
            let before = self.tally();
            let result = self.harness.read(&mut self.live[i].block, 0, &mut byte);
            let injected = self.injected_since(before);
            let live = &self.live[i];
            match result {
                Ok(()) => assert!(live.host_visible() && live.mapped.is_none()),
                Err(MapError::NonHostVisible) => assert!(!live.host_visible()),
                Err(MapError::AlreadyMapped) => assert!(live.mapped.is_some()),
                Err(MapError::MapFailed) if injected.maps > 0 => {}
                Err(error) => panic!("read of byte 0: {error:?} ({injected:?} injected)"),
            }
            return;
        }
        let (offset, len) = spans[which % spans.len()];
        let before = self.tally();
        let result = self.read_block(i, offset, len);
        let injected = self.injected_since(before);
        match result {
            Ok(bytes) => self.live[i].check(offset, &bytes),
            Err(MapError::MapFailed) if injected.maps > 0 => {}
            Err(error) => panic!("read {offset}+{len}: {error:?} ({injected:?} injected)"),
        }
    }

    /// Maps the whole of block `i`, for the later writes and reads through
    /// the pointer.
    pub fn map(&mut self, i: usize) {
        let before = self.tally();
        let Model { harness, live, .. } = self;
        let live = &mut live[i];
        let size = live.block.size() as usize;
        let result = harness.map(&mut live.block, 0, size);
        let injected = self.injected_since(before);
        let live = &mut self.live[i];
        match result {
            Ok(ptr) => {
                assert!(live.mapped.is_none(), "a mapped block mapped again");
                assert!(live.host_visible());
                assert_eq!(injected.maps, 0, "a map succeeded although it failed");
                live.mapped = Some(ptr);
            }
            Err(MapError::AlreadyMapped) => assert!(live.mapped.is_some()),
            Err(MapError::NonHostVisible) => assert!(!live.host_visible()),
            Err(MapError::MapFailed) if injected.maps > 0 => {}
            Err(error) => panic!("map: {error:?} ({injected:?} injected)"),
        }
    }

    /// Maps `offset..` of block `i` one byte past its end (`offset` at most
    /// one past the end): refused with the documented error.
    pub fn map_outside(&mut self, i: usize, offset: u64) {
        let Model { harness, live, .. } = self;
        let live = &mut live[i];
        let size = live.block.size();
        assert!(offset <= size + 1, "offset {offset} of a {size}-byte block");
        let len = size - offset.min(size) + 1;
        let result = harness.map(&mut live.block, offset, len as usize);
        let expected = if !live.host_visible() {
            MapError::NonHostVisible
        } else if live.mapped.is_some() {
            MapError::AlreadyMapped
        } else {
            MapError::MapFailed
        };
        assert_eq!(
            result.err(),
            Some(expected),
            "map of {offset}+{len} in a {size}-byte block"
        );
    }

    /// Unmaps block `i`: the answer says whether it was mapped, and a
    /// dedicated memory object is unmapped with it.
    pub fn unmap(&mut self, i: usize) {
        let Model { harness, live, .. } = self;
        let live = &mut live[i];
        let was = harness.unmap(&mut live.block);
        assert_eq!(was, live.mapped.is_some(), "unmap's answer");
        live.mapped = None;
        if live.block.is_dedicated() {
            let object = harness.device.object(live.block.memory().id());
            let object = object.expect("a live block's memory object is alive");
            assert_eq!(object.mapped, None, "dedicated object still mapped");
        }
    }

    /// Flushes (or invalidates) `offset..offset + size` of block `i`, any
    /// range: the exact documented result.
    pub fn flush_or_invalidate(&mut self, i: usize, offset: u64, size: u64, invalidate: bool) {
        let Model { harness, live, .. } = self;
        let live = &mut live[i];
        // An invalidate drops unflushed host writes; every write of the model
        // is flushed at once, so the host view stays as recorded.
        let result = if invalidate {
            harness.invalidate(&mut live.block, offset, size)
        } else {
            harness.flush(&mut live.block, offset, size)
        };
        let in_block = offset
            .checked_add(size)
            .is_some_and(|end| end <= live.block.size());
        let expected = if !live.host_visible() {
            Err(MapError::NonHostVisible)
        } else if !in_block {
            Err(MapError::MapFailed)
        } else if live.coherent() || size == 0 {
            Ok(())
        } else if live.block.is_dedicated() && !live.block.is_mapped() {
            Err(MapError::MapFailed)
        } else {
            Ok(())
        };
        assert_eq!(
            result,
            expected,
            "{} {offset}+{size} of a {}-byte block (dedicated {}, mapped {})",
            if invalidate { "invalidate" } else { "flush" },
            live.block.size(),
            live.block.is_dedicated(),
            live.block.is_mapped()
        );
    }

    /// The device writes the [`pattern`] of `byte` to `offset..offset + len` of
    /// host-visible block `i` (clipped to it); the host must read it after an
    /// invalidate. A read that fails (an injected map failure only) leaves the
    /// host view stale: the range is forgotten.
    pub fn device_write(&mut self, i: usize, offset: u64, len: u64, byte: u8) {
        if !self.live[i].host_visible() {
            return;
        }
        let (offset, len) = self.clip(i, offset, len);
        let bytes: Vec<u8> = (offset..offset + len).map(|p| pattern(byte, p)).collect();
        let live = &self.live[i];
        self.harness
            .device
            .device_write(live.block.memory(), live.block.offset() + offset, &bytes);
        let before = self.tally();
        let result = self.read_block(i, offset, len);
        let injected = self.injected_since(before);
        match result {
            Ok(read) => {
                assert_eq!(read, bytes, "device write not visible after invalidate");
                self.live[i].written.record(offset, &bytes);
            }
            Err(MapError::MapFailed) if injected.maps > 0 => {
                self.live[i].written.forget(offset, offset + len)
            }
            Err(error) => panic!("read after device write: {error:?} ({injected:?} injected)"),
        }
    }
}
