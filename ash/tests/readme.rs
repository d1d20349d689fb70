//! The workspace README's quick start is `examples/quickstart.rs` word for word
//! (the part between its `README` markers), so the code a user copies is the
//! code CI builds and runs on lavapipe.

const EXAMPLE: &str = include_str!("../examples/quickstart.rs");
const README: &str = include_str!("../../README.md");

/// The example's lines between `// README: begin` and `// README: end`.
fn example_part() -> String {
    let mut lines = EXAMPLE.lines();
    assert!(
        lines.any(|line| line == "// README: begin"),
        "examples/quickstart.rs has no `// README: begin` line"
    );
    let part: Vec<&str> = lines
        .by_ref()
        .take_while(|&line| line != "// README: end")
        .collect();
    assert!(
        EXAMPLE.lines().any(|line| line == "// README: end"),
        "examples/quickstart.rs has no `// README: end` line"
    );
    part.iter().map(|line| format!("{line}\n")).collect()
}

/// The README's fenced `rust` code blocks.
fn readme_blocks() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = README.lines();
    while let Some(line) = lines.next() {
        if line == "```rust" {
            let block: String = lines
                .by_ref()
                .take_while(|&line| line != "```")
                .map(|line| format!("{line}\n"))
                .collect();
            blocks.push(block);
        }
    }
    blocks
}

#[test]
fn readme_quick_start_is_the_example() {
    let part = example_part();
    assert!(
        part.contains("fn quickstart("),
        "the marked part holds the function"
    );
    let blocks = readme_blocks();
    assert!(
        blocks.contains(&part),
        "README.md has no ```rust block equal to the README part of \
         ash/examples/quickstart.rs; copy it again:\n\n{part}"
    );
}
