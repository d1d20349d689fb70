//! `--threads N`: the workload on N threads at once, through one
//! [`SharedGpuAllocator`].
//!
//! Each thread has a [`Gpu`] of its own (on Vulkan: its own command pool,
//! command buffer and fence; the one queue is locked for each submission) and
//! runs its [`Share`] of the workload: every N-th asset of the level, an N-th
//! of the streamed assets, and every frame, uploading, reading back and
//! checking its own assets. The assets it evicts go to the next thread (thread N - 1's
//! to thread 0), which frees them, so blocks are freed by threads that did not
//! allocate them. At the end each thread frees its own assets and the last of
//! those handed to it.
//!
//! This thread (the coordinator) meets the others after the level load and at
//! every progress frame, while they wait: it prints the progress line, checks
//! the allocator's invariants (which wants no other thread at work) and, at
//! the last meeting, keeps the statistics and memory map of the report. With
//! `--defrag` it also begins a defragmentation pass at each meeting (passes
//! until one moves nothing at the last), lets the threads out to answer the
//! moves of their own assets, and ends the pass once they are back
//! ([`super::defrag`]). After
//! the threads are done it cleans up and makes the same end checks as a run on
//! one thread.

use {
    super::{
        defrag, device_checks, is_progress_frame, pools, progress_line, Counters, HandOver,
        Outcome, Share, SharePools, Workload,
    },
    crate::gpu::{Gpu, Resource},
    gpu_alloc::{
        AllocatorStats, Config, DefragPass, DeviceProperties, ExtendedProperties, MemoryMap,
        SharedGpuAllocator,
    },
    std::{
        any::Any,
        sync::{mpsc, Condvar, Mutex, MutexGuard, PoisonError},
        thread,
        time::Instant,
    },
};

/// Locks `mutex`, whether or not a thread panicked holding it (every panic
/// ends the run anyway).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A barrier that a panicking thread can break, so that the others stop
/// instead of waiting for it forever.
pub(super) struct Rendezvous {
    parties: usize,
    state: Mutex<RendezvousState>,
    all_here: Condvar,
}

#[derive(Default)]
struct RendezvousState {
    /// Parties waiting in this round.
    here: usize,
    /// Rounds completed.
    round: u64,
    /// A party panicked: every wait returns `false` from now on.
    broken: bool,
}

impl Rendezvous {
    pub(super) fn new(parties: usize) -> Self {
        Rendezvous {
            parties,
            state: Mutex::default(),
            all_here: Condvar::new(),
        }
    }

    /// Waits until every party is here; `false` when a party panicked.
    pub(super) fn wait(&self) -> bool {
        let mut state = lock(&self.state);
        if state.broken {
            return false;
        }
        state.here += 1;
        if state.here == self.parties {
            state.here = 0;
            state.round += 1;
            self.all_here.notify_all();
            return true;
        }
        let round = state.round;
        while state.round == round && !state.broken {
            state = self
                .all_here
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        !state.broken
    }

    fn r#break(&self) {
        lock(&self.state).broken = true;
        self.all_here.notify_all();
    }
}

/// Breaks the rendezvous if its thread panics.
pub(super) struct BreakOnPanic<'a>(pub(super) &'a Rendezvous);

impl Drop for BreakOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.r#break();
        }
    }
}

/// What the threads tell the coordinator at a meeting.
#[derive(Clone, Debug, Default)]
struct Snapshot {
    assets: usize,
    counters: Counters,
}

/// The threads' meetings with the coordinator.
struct Meeting<M> {
    rendezvous: Rendezvous,
    /// Each thread's last snapshot.
    board: Mutex<Vec<Snapshot>>,
    /// The defragmentation pass whose moves the threads answer (`--defrag`):
    /// set by the coordinator before it lets them out to answer, taken back
    /// once they are all back.
    pass: Mutex<Option<DefragPass<M>>>,
    /// `--defrag`: the threads make their assets movable.
    defrag: bool,
}

impl<M: std::fmt::Debug + 'static> Meeting<M> {
    /// A thread's side of a meeting: its snapshot, then waits while the
    /// coordinator works, answering the moves of the passes it begins.
    /// `false`: a thread panicked, stop.
    fn attend<G: Gpu<Memory = M>>(
        &self,
        index: usize,
        workload: &mut Workload<'_, G, &SharedGpuAllocator<M>>,
    ) -> bool {
        lock(&self.board)[index] = Snapshot {
            assets: workload.assets(),
            counters: workload.counters().clone(),
        };
        // Once to let the coordinator in; then once for each pass to answer
        // (with the pass set) and once to be back; or once to be let out
        // (no pass set).
        if !self.rendezvous.wait() {
            return false;
        }
        loop {
            if !self.rendezvous.wait() {
                return false;
            }
            match lock(&self.pass).as_mut() {
                Some(pass) => workload.answer_moves(pass),
                None => return true,
            }
            if !self.rendezvous.wait() {
                return false;
            }
        }
    }
}

/// One thread's run of its share: level load, frames with meetings, its end.
fn run_share<G: Gpu>(
    mut gpu: G,
    allocator: &SharedGpuAllocator<G::Memory>,
    share: Share,
    pools: SharePools,
    hand_over: HandOver<G>,
    frames: u32,
    meeting: &Meeting<G::Memory>,
) -> (Counters, Vec<String>) {
    let _break = BreakOnPanic(&meeting.rendezvous);
    let mut workload = Workload::new(&mut gpu, allocator, share, pools)
        .with_hand_over(hand_over)
        .with_defrag(meeting.defrag);
    workload.load_level();
    let mut go_on = meeting.attend(share.index, &mut workload);
    for frame in 1..=frames {
        if !go_on {
            break;
        }
        workload.frame(false);
        if is_progress_frame(frame, frames) {
            go_on = meeting.attend(share.index, &mut workload);
        }
    }
    workload.finish_share()
}

/// The message of a thread's panic.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "(no message)"
    }
}

/// Runs the whole workload on `workers.len()` threads, one `Gpu` each, with one
/// [`SharedGpuAllocator`]; `gpu` is this thread's, for the budget and the end
/// checks; with `defrag`, defragmentation passes at the meetings.
pub fn run_threaded<G>(
    gpu: &mut G,
    workers: Vec<G>,
    props: DeviceProperties<'_>,
    ext: ExtendedProperties<'_>,
    frames: u32,
    defrag: bool,
) -> Outcome
where
    G: Gpu + Send,
    G::Handle: Send,
    G::Memory: Send + Sync,
{
    let started = Instant::now();
    let threads = workers.len();
    let allocator =
        SharedGpuAllocator::with_extended_properties(Config::i_am_prototyping(), props, ext);
    let budget_read = allocator.update_budget(gpu.memory_device());
    // The pools, made before the threads start and destroyed after they end.
    let share_pools = match pools::create(gpu, &mut &allocator, threads) {
        Ok(pools) => pools,
        Err(why) => return Outcome::not_started(why, gpu, allocator.memory_map(), started),
    };
    let meeting = Meeting {
        rendezvous: Rendezvous::new(threads + 1),
        board: Mutex::new(vec![Snapshot::default(); threads]),
        pass: Mutex::new(None),
        defrag,
    };
    // Thread i sends to thread i + 1 and receives from thread i - 1.
    let (mut senders, receivers): (Vec<mpsc::Sender<Resource<G>>>, Vec<_>) =
        (0..threads).map(|_| mpsc::channel()).unzip();
    senders.rotate_left(1);
    let mut peak = (0, 0);
    let mut at_end: Option<(AllocatorStats, MemoryMap)> = None;
    // `--defrag`: the statistics before the first pass, and after the last.
    let mut first: Option<(u32, AllocatorStats)> = None;
    let mut after: Option<(AllocatorStats, MemoryMap)> = None;
    let mut failures = Vec::new();
    let results = thread::scope(|scope| {
        let _break = BreakOnPanic(&meeting.rendezvous);
        let handles: Vec<_> = workers
            .into_iter()
            .zip(senders.into_iter().zip(receivers))
            .zip(share_pools.iter().copied())
            .enumerate()
            .map(|(index, ((worker, (to_next, from_previous)), pools))| {
                let share = Share {
                    index,
                    count: threads,
                };
                let hand_over = HandOver {
                    to_next,
                    from_previous,
                };
                let (allocator, meeting) = (&allocator, &meeting);
                thread::Builder::new()
                    .name(format!("demo thread {index}"))
                    .spawn_scoped(scope, move || {
                        run_share(worker, allocator, share, pools, hand_over, frames, meeting)
                    })
                    .expect("starting a thread")
            })
            .collect();
        // The meetings: after the level load, then at every progress frame.
        let meetings =
            std::iter::once(0).chain((1..=frames).filter(|&f| is_progress_frame(f, frames)));
        for done in meetings {
            if !meeting.rendezvous.wait() {
                break;
            }
            allocator.update_budget(gpu.memory_device());
            allocator.check_invariants();
            let stats = allocator.stats();
            peak = (
                u64::max(peak.0, stats.reserved),
                u32::max(peak.1, stats.memory_objects),
            );
            let board = lock(&meeting.board).clone();
            let assets = board.iter().map(|s| s.assets).sum();
            let mut counters = Counters::default();
            for snapshot in &board {
                counters.uploads += snapshot.counters.uploads;
                counters.readbacks += snapshot.counters.readbacks;
                counters.level_assets += snapshot.counters.level_assets;
            }
            if done == 0 {
                println!(
                    "level loaded: {} meshes and textures in {:.2} s by {threads} threads",
                    counters.level_assets,
                    started.elapsed().as_secs_f64()
                );
            }
            println!("{}", progress_line(done, frames, &stats, assets, &counters));
            if done == frames {
                at_end = Some((stats.clone(), allocator.memory_map()));
            }
            if defrag {
                first.get_or_insert((done, stats));
                let passes = if done == frames {
                    defrag::FINAL_PASSES
                } else {
                    1
                };
                for _ in 0..passes {
                    let Some(report) = coordinate_pass(gpu, &allocator, &meeting, done) else {
                        break;
                    };
                    let report = match report {
                        Ok(report) => report,
                        Err(why) => {
                            failures.push(why);
                            break;
                        }
                    };
                    if report.moved == 0 && report.objects_freed == 0 {
                        break;
                    }
                }
                if done == frames {
                    after = Some((allocator.stats(), allocator.memory_map()));
                }
            }
            if !meeting.rendezvous.wait() {
                break;
            }
        }
        handles
            .into_iter()
            .map(|handle| handle.join())
            .collect::<Vec<_>>()
    });

    // The threads' counters and failures, in thread order.
    let mut counters = Counters {
        budget_read,
        ..Counters::default()
    };
    for (index, result) in results.into_iter().enumerate() {
        let (c, share_failures) = match result {
            Ok(result) => result,
            Err(panic) => {
                failures.push(format!(
                    "thread {index} panicked: {}",
                    panic_message(&*panic)
                ));
                continue;
            }
        };
        counters.frames = counters.frames.max(c.frames);
        counters.level_assets += c.level_assets;
        counters.uploads += c.uploads;
        counters.readbacks += c.readbacks;
        counters.bytes_verified += c.bytes_verified;
        counters.streamed_in += c.streamed_in;
        counters.streamed_out += c.streamed_out;
        counters.dedicated_for_resource += c.dedicated_for_resource;
        counters.dedicated_with_priority += c.dedicated_with_priority;
        counters.freed_by_other_thread += c.freed_by_other_thread;
        counters.staged_bytes += c.staged_bytes;
        counters.texture_evictions += c.texture_evictions;
        counters.loads_deferred += c.loads_deferred;
        counters.answers.add(&c.answers);
        for (peak, share_peak) in counters.pool_peaks.iter_mut().zip(c.pool_peaks) {
            *peak = (*peak).max(share_peak);
        }
        counters.peak_reserved = counters.peak_reserved.max(c.peak_reserved);
        counters.peak_objects = counters.peak_objects.max(c.peak_objects);
        failures.extend(share_failures);
    }
    counters.peak_reserved = counters.peak_reserved.max(peak.0);
    counters.peak_objects = counters.peak_objects.max(peak.1);

    // Every thread has freed what it held.
    let (end, end_map) = at_end.unwrap_or_else(|| (allocator.stats(), allocator.memory_map()));
    let (stats, map, summary) = match after {
        Some((stats, map)) => {
            failures.extend(defrag::checks(&counters.answers, &stats));
            let summary = defrag::Summary {
                first: first.unwrap_or_else(|| (frames, end.clone())),
                end,
                end_map,
            };
            (stats, map, Some(summary))
        }
        None => (end, end_map, None),
    };
    let (pools_destroyed, pool_failures) =
        pools::destroy(&*gpu, &mut &allocator, &pools::all(&share_pools));
    failures.extend(pool_failures);
    // SAFETY: the allocator's device (every thread's `G` is of the same one);
    // every block was freed by the threads, which are done.
    unsafe { allocator.cleanup(gpu.memory_device()) };
    allocator.check_invariants();
    let after = allocator.stats();
    if after.blocks != 0 || after.memory_objects != 0 || after.reserved != 0 {
        failures.push(format!(
            "after freeing everything and cleanup the allocator holds {} blocks in {} \
             memory objects ({} bytes)",
            after.blocks, after.memory_objects, after.reserved
        ));
    }
    failures.extend(device_checks(&*gpu));
    Outcome {
        threads,
        counters,
        stats,
        map,
        pools_destroyed,
        failures,
        seconds: started.elapsed().as_secs_f64(),
        defrag: summary,
    }
}

/// One pass at a meeting (the threads waiting): begins it, lets the threads
/// answer their moves, and ends it once they are back; prints what it did.
/// `None`: it planned nothing, or a thread panicked; `Err`: it could not be
/// ended.
fn coordinate_pass<G: Gpu>(
    gpu: &G,
    allocator: &SharedGpuAllocator<G::Memory>,
    meeting: &Meeting<G::Memory>,
    frame: u32,
) -> Option<Result<gpu_alloc::DefragReport, String>> {
    let before = allocator.stats().reserved;
    let pass = allocator.begin_defrag_pass(&defrag::options());
    let planned = !pass.is_empty();
    *lock(&meeting.pass) = Some(pass);
    // Out to answer, and back.
    let answered = planned && meeting.rendezvous.wait() && meeting.rendezvous.wait();
    let pass = lock(&meeting.pass).take().expect("the pass set above");
    // SAFETY: the allocator's device (every thread's `G` is of the same
    // one); each thread waited for the copies of its moves done and
    // destroyed their old resources; the new blocks of the other moves hold
    // no resource.
    let ended = unsafe { allocator.end_defrag_pass(gpu.memory_device(), pass) };
    allocator.check_invariants();
    if !answered {
        return None;
    }
    Some(match ended {
        Ok(report) => {
            let after = allocator.stats().reserved;
            println!("{}", defrag::pass_line(frame, &report, (before, after)));
            Ok(report)
        }
        Err(_) => Err("the shared allocator did not end its own pass".to_owned()),
    })
}
