//! The memory map as an SVG picture ([`MemoryMap::to_svg`]).
//!
//! Plain text output, no dependency, `no_std` + `alloc`. Layout:
//!
//! - a title with the allocator's totals, then a legend;
//! - per heap: a header with its size, limit, budget reading and totals (objects,
//!   reserved, used, free, largest free range, fragmentation);
//! - per memory type of that heap that holds objects: a header naming its
//!   property flags and its totals;
//! - one row per device memory object. **Every row is drawn full width**, whatever
//!   the object's size, with the size written on the left: so a small object's
//!   fragmentation is as visible as a large one's, and waste is read from the
//!   free bytes on the right. Inside a row, live ranges are drawn to scale and
//!   coloured by strategy; free space is pale; free ranges too narrow to see are
//!   drawn as 1-pixel red ticks, so scattered holes stay visible.

#![deny(unsafe_code)]

use {
    crate::{
        stats::{HeapStats, MapRange, MemoryMap, MemoryTypeStats, NamedRange, ObjectKind},
        ResourceKind,
    },
    alloc::string::String,
    core::fmt::{self, Write},
    gpu_alloc_types::{HeapBudget, MemoryPropertyFlags},
};

#[cfg(test)]
mod tests;

/// Width of the picture.
const WIDTH: f64 = 1060.0;
/// Left and right margin.
const MARGIN: f64 = 16.0;
/// Where the bar of a row starts (the object's kind and size are left of it).
const BAR_X: f64 = 160.0;
/// Width of the bar of a row.
const BAR_W: f64 = 560.0;
/// Where the text right of a bar starts.
const INFO_X: f64 = BAR_X + BAR_W + 8.0;
/// Vertical step of one object row.
const ROW_H: f64 = 16.0;
/// Height of a bar inside its row.
const BAR_H: f64 = 12.0;
/// Vertical step of a line of text.
const LINE_H: f64 = 15.0;
/// Past this many ranges in total, ranges get no tooltip (keeps the file small).
const TOOLTIP_LIMIT: usize = 4000;

/// Colour of free space.
const FREE: &str = "#e9e9e9";
/// Colour of free ranges narrower than a pixel (drawn 1 pixel wide).
const SLIVER: &str = "#d62728";

/// Colour of live ranges of an object of this kind.
fn colour(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::General => "#4e79a7",
        ObjectKind::Transient => "#f28e2b",
        ObjectKind::Dedicated => "#59a14f",
        ObjectKind::Imported => "#b07aa1",
        ObjectKind::Pool => "#76b7b2",
    }
}

/// Name of the strategy of an object of this kind.
fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::General => "general",
        ObjectKind::Transient => "transient",
        ObjectKind::Dedicated => "dedicated",
        ObjectKind::Imported => "imported",
        ObjectKind::Pool => "pool",
    }
}

/// A byte count for people: `512 B`, `64.0 KiB`, `312 MiB`, `7.63 GiB`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        let unit = UNITS[unit];
        if value >= 100.0 {
            write!(f, "{value:.0} {unit}")
        } else if value >= 10.0 {
            write!(f, "{value:.1} {unit}")
        } else {
            write!(f, "{value:.2} {unit}")
        }
    }
}

/// Text with the characters XML reserves escaped.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '&' => f.write_str("&amp;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&apos;")?,
                c if c.is_control() => f.write_char(' ')?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `part / whole` in percent, 0 when `whole` is 0.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The property flags of a memory type, `DEVICE_LOCAL | HOST_VISIBLE`, or
/// `no property flags`.
struct Props(MemoryPropertyFlags);

impl fmt::Display for Props {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no property flags");
        }
        for (index, (name, _)) in self.0.iter_names().enumerate() {
            if index > 0 {
                f.write_str(" | ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// A heap's budget reading, ` · budget 7.00 GiB (process uses 312 MiB)`, or
/// ` · no budget reading`.
struct Budget(Option<HeapBudget>);

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(b) => write!(
                f,
                " · budget {} (process uses {})",
                Bytes(b.budget),
                Bytes(b.usage)
            ),
            None => f.write_str(" · no budget reading"),
        }
    }
}

/// A user pool's name and a separator, `"level geometry" · `, escaped; nothing
/// for an object of no pool.
struct PoolName<'a>(Option<&'a str>);

impl fmt::Display for PoolName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, "&quot;{}&quot; · ", Escaped(name)),
            None => Ok(()),
        }
    }
}

/// One row to draw: a device memory object.
struct Row<'a> {
    kind: ObjectKind,
    /// What the row's label calls the object.
    label: &'static str,
    size: u64,
    /// `None` for dedicated and imported objects (one live range).
    ranges: Option<&'a [MapRange]>,
    /// The named blocks in the object.
    named: &'a [NamedRange],
    /// For an object of a user pool, the pool's name (written right of the
    /// bar, before the object's figures).
    pool: Option<&'a str>,
}

/// What a row's ranges add up to.
struct Tally {
    /// Bytes in live ranges (the whole object for dedicated and imported ones).
    used: u64,
    /// Number of free ranges.
    free_ranges: u64,
    /// Size of the largest free range.
    largest_free: u64,
}

/// Writes the picture's body, keeping track of its height.
struct Canvas {
    out: String,
    y: f64,
    tooltips: bool,
}

impl Canvas {
    fn text(&mut self, x: f64, class: &str, args: fmt::Arguments<'_>) -> fmt::Result {
        self.y += LINE_H;
        writeln!(
            self.out,
            r#"<text x="{x:.1}" y="{:.1}" class="{class}">{args}</text>"#,
            self.y - 4.0
        )
    }

    /// A heap's section header: a rule, its title line and its totals.
    fn heap(&mut self, heap: &HeapStats) -> fmt::Result {
        self.rule()?;
        self.text(
            MARGIN,
            "h1",
            format_args!(
                "Heap {} — {} (allocator limit {}){}",
                heap.heap,
                Bytes(heap.size),
                Bytes(heap.limit),
                Budget(heap.budget)
            ),
        )?;
        if heap.memory_objects == 0 {
            return self.text(MARGIN, "t", format_args!("no memory objects"));
        }
        self.heap_totals(heap)
    }

    /// The full-width line above a heap's section.
    fn rule(&mut self) -> fmt::Result {
        self.y += 10.0;
        writeln!(
            self.out,
            r##"<rect x="{MARGIN}" y="{:.1}" width="{:.1}" height="1" fill="#888"/>"##,
            self.y - 4.0,
            WIDTH - 2.0 * MARGIN
        )
    }

    /// The line of a heap's totals, under its title.
    fn heap_totals(&mut self, heap: &HeapStats) -> fmt::Result {
        self.text(
            MARGIN,
            "t",
            format_args!(
                "{} objects · reserved {} · used {} ({:.1}%) in {} blocks · free {} · \
                 largest free range {} · fragmentation {:.2}",
                heap.memory_objects,
                Bytes(heap.reserved),
                Bytes(heap.used),
                percent(heap.used, heap.reserved),
                heap.blocks,
                Bytes(heap.free),
                Bytes(heap.largest_free),
                heap.fragmentation
            ),
        )
    }

    fn memory_type(&mut self, ty: &MemoryTypeStats) -> fmt::Result {
        self.y += 4.0;
        self.text(
            MARGIN + 8.0,
            "h2",
            format_args!("Type {}: {}", ty.memory_type, Props(ty.props)),
        )?;
        self.text(
            MARGIN + 8.0,
            "t",
            format_args!(
                "{} objects ({} dedicated/imported) · reserved {} · used {} ({:.1}%) · \
                 free {} · fragmentation {:.2}",
                ty.memory_objects,
                ty.dedicated_objects,
                Bytes(ty.reserved),
                Bytes(ty.used),
                percent(ty.used, ty.reserved),
                Bytes(ty.free),
                ty.fragmentation
            ),
        )
    }

    /// Draws bytes `start..end` of a row's object, at least 1 pixel wide.
    fn range(
        &mut self,
        (start, end): (u64, u64),
        y: f64,
        scale: f64,
        colour: &str,
        used: bool,
    ) -> fmt::Result {
        let x = BAR_X + start as f64 * scale;
        let w = ((end - start) as f64 * scale).max(1.0);
        write!(
            self.out,
            r#"<rect x="{x:.2}" y="{y:.1}" width="{w:.2}" height="{BAR_H}" fill="{colour}">"#
        )?;
        if self.tooltips {
            write!(
                self.out,
                "<title>{} at offset {start}: {}</title>",
                if used { "live blocks" } else { "free" },
                Bytes(end - start)
            )?;
        }
        writeln!(self.out, "</rect>")
    }

    /// One object's row: its label and bar, its ranges and the text right of it.
    fn row(&mut self, row: &Row<'_>) -> fmt::Result {
        let y = self.y + (ROW_H - BAR_H) / 2.0;
        let text_y = self.y + ROW_H - 4.0;
        let fill = colour(row.kind);
        writeln!(self.out, r#"<g class="row" shape-rendering="crispEdges">"#)?;
        self.row_frame(row, y, text_y)?;
        let tally = match row.ranges {
            None => {
                writeln!(
                    self.out,
                    r#"<rect x="{BAR_X}" y="{y:.1}" width="{BAR_W}" height="{BAR_H}" fill="{fill}"/>"#
                )?;
                Tally {
                    used: row.size,
                    free_ranges: 0,
                    largest_free: 0,
                }
            }
            Some(ranges) => {
                let scale = if row.size == 0 {
                    0.0
                } else {
                    BAR_W / row.size as f64
                };
                let tally = self.ranges(ranges, y, scale, fill)?;
                self.named(row.named, y, scale)?;
                tally
            }
        };
        self.row_info(row, &tally, text_y)?;
        writeln!(self.out, "</g>")?;
        self.y += ROW_H;
        Ok(())
    }

    /// Outlines each named block of a row, its name and size as its tooltip.
    fn named(&mut self, named: &[NamedRange], y: f64, scale: f64) -> fmt::Result {
        for block in named {
            let x = BAR_X + block.offset as f64 * scale;
            let w = (block.size as f64 * scale).max(1.0);
            write!(
                self.out,
                r##"<rect x="{x:.2}" y="{y:.1}" width="{w:.2}" height="{BAR_H}" fill="none" stroke="#222" stroke-width="0.6">"##
            )?;
            if self.tooltips {
                write!(
                    self.out,
                    "<title>{} at offset {}: {}</title>",
                    Escaped(&block.name),
                    block.offset,
                    Bytes(block.size)
                )?;
            }
            writeln!(self.out, "</rect>")?;
        }
        Ok(())
    }

    /// The label left of a row's bar (kind and size) and the bar's background.
    fn row_frame(&mut self, row: &Row<'_>, y: f64, text_y: f64) -> fmt::Result {
        writeln!(
            self.out,
            r#"<text x="{:.1}" y="{text_y:.1}" class="t">{} {}</text>"#,
            MARGIN + 16.0,
            row.label,
            Bytes(row.size)
        )?;
        writeln!(
            self.out,
            r##"<rect x="{BAR_X}" y="{y:.1}" width="{BAR_W}" height="{BAR_H}" fill="{FREE}" stroke="#999" stroke-width="0.5"/>"##
        )
    }

    /// Draws the live ranges of a shared object and its free ranges too narrow
    /// to see, and counts them.
    fn ranges(
        &mut self,
        ranges: &[MapRange],
        y: f64,
        scale: f64,
        fill: &str,
    ) -> Result<Tally, fmt::Error> {
        let mut tally = Tally {
            used: 0,
            free_ranges: 0,
            largest_free: 0,
        };
        // Adjacent live ranges are drawn as one rectangle (no seams);
        // free ranges too narrow to see are drawn last, on top.
        let mut run: Option<(u64, u64)> = None;
        let mut slivers = alloc::vec::Vec::new();
        for range in ranges {
            if range.used {
                tally.used += range.size;
                run = match run {
                    Some((start, end)) if end == range.offset => {
                        Some((start, range.offset + range.size))
                    }
                    other => {
                        if let Some(done) = other {
                            self.range(done, y, scale, fill, true)?;
                        }
                        Some((range.offset, range.offset + range.size))
                    }
                };
            } else {
                tally.free_ranges += 1;
                tally.largest_free = tally.largest_free.max(range.size);
                // Wide ones show as the bar's background.
                if (range.size as f64) * scale < 1.0 {
                    slivers.push((range.offset, range.offset + range.size));
                }
            }
        }
        if let Some(done) = run {
            self.range(done, y, scale, fill, true)?;
        }
        for sliver in slivers {
            self.range(sliver, y, scale, SLIVER, false)?;
        }
        Ok(tally)
    }

    /// The text right of a row's bar: how much of the object is used and how
    /// its free space lies.
    fn row_info(&mut self, row: &Row<'_>, tally: &Tally, text_y: f64) -> fmt::Result {
        let used = tally.used;
        let free = row.size - used.min(row.size);
        // Red when a quarter or more of the object is free.
        let class = if free > 0 && free * 4 >= row.size {
            "w"
        } else {
            "t"
        };
        let pool = PoolName(row.pool);
        if row.ranges.is_some() && used == 0 {
            // Pools keep one empty object for reuse until `cleanup`.
            writeln!(
                self.out,
                r#"<text x="{INFO_X}" y="{text_y:.1}" class="w">{pool}empty (kept for reuse)</text>"#
            )
        } else if row.kind == ObjectKind::Transient {
            // Linear objects report one range up to the bump pointer: blocks
            // freed below it are not reusable until the object empties.
            writeln!(
                self.out,
                r#"<text x="{INFO_X}" y="{text_y:.1}" class="{class}">{pool}{:.0}% bumped · {} free past it</text>"#,
                percent(used, row.size),
                Bytes(free),
            )
        } else if row.ranges.is_some() {
            let free_ranges = tally.free_ranges;
            writeln!(
                self.out,
                r#"<text x="{INFO_X}" y="{text_y:.1}" class="{class}">{pool}{:.0}% used · {} free in {free_ranges} range{}{}</text>"#,
                percent(used, row.size),
                Bytes(free),
                if free_ranges == 1 { "" } else { "s" },
                if free_ranges > 1 && tally.largest_free * 2 < free {
                    " (scattered)"
                } else {
                    ""
                }
            )
        } else {
            writeln!(
                self.out,
                r#"<text x="{INFO_X}" y="{text_y:.1}" class="t">one block · 100% used</text>"#
            )
        }
    }

    fn legend(&mut self) -> fmt::Result {
        let y = self.y + 4.0;
        let mut x = MARGIN;
        let items = [
            (colour(ObjectKind::General), "general (TLSF)"),
            (
                colour(ObjectKind::Transient),
                "transient (linear, to the bump pointer)",
            ),
            (colour(ObjectKind::Dedicated), "dedicated"),
            (colour(ObjectKind::Imported), "imported"),
            (colour(ObjectKind::Pool), "user pool (named right of it)"),
            (FREE, "free"),
            (SLIVER, "free range &lt; 1 px"),
        ];
        for (fill, name) in items {
            writeln!(
                self.out,
                r##"<rect x="{x:.1}" y="{y:.1}" width="14" height="{BAR_H}" fill="{fill}" stroke="#999" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" class="t">{name}</text>"##,
                x + 18.0,
                y + BAR_H - 2.0
            )?;
            // Entities count as one character.
            let chars = name.chars().count() - 3 * name.matches('&').count();
            x += 26.0 + 7.0 * chars as f64;
        }
        self.y += ROW_H + 4.0;
        self.text(
            MARGIN,
            "n",
            format_args!(
                "One row per device memory object, full width whatever its size (size on the \
                 left), live ranges to scale. Red figures: a quarter or more of it is free."
            ),
        )?;
        self.text(
            MARGIN,
            "n",
            format_args!(
                "Fragmentation = 1 − largest free range / free bytes: 0 when the free space is \
                 one range, near 1 when it is scattered."
            ),
        )
    }
}

impl MemoryMap {
    /// Renders the map as a standalone SVG document: one row per device memory
    /// object, grouped by heap and memory type, live ranges to scale and coloured
    /// by strategy (general, transient, dedicated, imported, or a user pool's,
    /// whose rows name the pool), free space visible, with a legend and
    /// per-heap and per-type totals (reserved, used, free, fragmentation).
    ///
    /// Every row is drawn full width with its object's size as a label, so that
    /// fragmentation inside small objects is as visible as inside large ones.
    pub fn to_svg(&self) -> String {
        self.to_svg_with_title("gpu-alloc memory map")
    }

    /// [`to_svg`](Self::to_svg) with another title (for example the device's
    /// name and the moment of the snapshot). Any text is fine: it is escaped.
    pub fn to_svg_with_title(&self, title: &str) -> String {
        let mut out = String::new();
        // Writing to a `String` cannot fail.
        let _ = self.write_svg(&mut out, title);
        out
    }

    fn write_svg(&self, out: &mut String, title: &str) -> fmt::Result {
        let ranges: usize = self.objects.iter().map(|o| o.ranges.len()).sum();
        let mut canvas = Canvas {
            out: String::new(),
            y: MARGIN,
            tooltips: ranges <= TOOLTIP_LIMIT,
        };
        self.title(&mut canvas, title)?;
        canvas.legend()?;
        self.sections(&mut canvas)?;
        document(out, &canvas)
    }

    /// The picture's title and the allocator's totals under it.
    fn title(&self, canvas: &mut Canvas, title: &str) -> fmt::Result {
        let stats = &self.stats;
        canvas.y += 4.0;
        canvas.text(MARGIN, "h0", format_args!("{}", Escaped(title)))?;
        canvas.text(
            MARGIN,
            "t",
            format_args!(
                "{} memory objects · reserved {} · used {} ({:.1}%) in {} blocks · \
                 {} more objects allowed",
                stats.memory_objects,
                Bytes(stats.reserved),
                Bytes(stats.used),
                percent(stats.used, stats.reserved),
                stats.blocks,
                stats.remaining_allocations
            ),
        )
    }

    /// Per heap, its header, then per memory type of it that holds objects,
    /// the type's header and one row per object.
    fn sections(&self, canvas: &mut Canvas) -> fmt::Result {
        let stats = &self.stats;
        for heap in &stats.heaps {
            canvas.heap(heap)?;
            for ty in stats.memory_types.iter().filter(|t| t.heap == heap.heap) {
                let mut rows = self.rows(ty.memory_type).peekable();
                if rows.peek().is_none() {
                    continue;
                }
                canvas.memory_type(ty)?;
                for row in rows {
                    canvas.row(&row)?;
                }
            }
        }
        Ok(())
    }

    /// The rows of the objects of a memory type: shared objects first, then
    /// dedicated and imported ones.
    fn rows(&self, memory_type: u32) -> impl Iterator<Item = Row<'_>> {
        let shared = self
            .objects
            .iter()
            .filter(move |o| o.memory_type == memory_type)
            .map(|o| Row {
                kind: o.kind,
                label: match (o.kind, o.resource) {
                    (ObjectKind::General, ResourceKind::Linear) => "buffers",
                    (ObjectKind::General, ResourceKind::Optimal) => "images",
                    (kind, _) => kind_name(kind),
                },
                size: o.size,
                ranges: Some(&o.ranges),
                named: &o.named,
                pool: o.pool.as_deref(),
            });
        let dedicated = self
            .dedicated
            .iter()
            .filter(move |d| d.0 == memory_type)
            .map(|&(_, _, size, kind)| Row {
                kind,
                label: kind_name(kind),
                size,
                ranges: None,
                named: &[],
                pool: None,
            });
        shared.chain(dedicated)
    }
}

/// The SVG document around the canvas's body, sized to its height.
fn document(out: &mut String, canvas: &Canvas) -> fmt::Result {
    let height = canvas.y + MARGIN;
    writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">"#
    )?;
    writeln!(
        out,
        "<style>text{{font-size:11px;fill:#222}} .h0{{font-size:14px;font-weight:bold}} \
         .h1{{font-size:13px;font-weight:bold}} .h2{{font-weight:bold}} .n{{fill:#666}} \
         .w{{fill:#c0392b}}</style>"
    )?;
    writeln!(
        out,
        r#"<rect width="{WIDTH}" height="{height:.0}" fill="white"/>"#
    )?;
    out.push_str(&canvas.out);
    writeln!(out, "</svg>")
}
