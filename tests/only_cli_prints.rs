//! ARCHITECTURE's invariant: only `cli` (`sim/cli.rs`, `sim/cli/`) prints to the terminal or
//! chooses an exit code; library code returns values and typed errors. This test reads every
//! other file under `sim/` (except `sim/main.rs`, the three-line binary, and `sim/exit.rs`,
//! which defines the codes) and fails naming each file and line that prints, draws a progress
//! bar, exits the process or picks an exit code. Comments, string literals and `#[cfg(test)]`
//! items are not library code and are left out.

use std::path::{Path, PathBuf};

/// What library code must not contain, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("print!", "prints"),
    ("println!", "prints"),
    ("eprint!", "prints"),
    ("eprintln!", "prints"),
    ("dbg!", "prints"),
    ("io::stdout", "writes to the terminal"),
    ("io::stderr", "writes to the terminal"),
    ("indicatif", "draws on the terminal"),
    ("process::exit", "exits the process"),
    ("exit::", "chooses an exit code"),
];

/// Files outside `cli` that may print or name exit codes.
const ALLOWED: &[&str] = &["sim/main.rs", "sim/exit.rs"];

#[test]
fn only_cli_prints_or_chooses_exit_codes() {
    // Read at run time (cargo sets it) so the scan can be pointed at another checkout.
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let root = root.as_path();
    let files = library_files(root);
    assert!(
        files.len() > 50,
        "found only {} files under sim/: is this the package root?",
        files.len()
    );
    let mut findings = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root.join(file)).expect("a readable source file");
        for (line, what, why) in violations(&text) {
            findings.push(format!("{}:{line}: `{what}` {why}", file.display()));
        }
    }
    assert!(
        findings.is_empty(),
        "library code that {}; only sim/cli* may (return a value or a typed error \
         instead, and let cli print it and map it to an exit code):\n{}",
        "prints or chooses exit codes",
        findings.join("\n")
    );
}

/// Every `.rs` file under `sim/`, relative to the package root, but `cli`'s, the allowed
/// ones and the files that are whole test modules (`#[cfg(test)] mod name;`).
fn library_files(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    walk(root, Path::new("sim"), &mut all);
    let test_modules: Vec<PathBuf> = all
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(root.join(file)).expect("a readable source file");
            let dir = module_dir(file);
            test_module_names(&code_only(&text))
                .into_iter()
                .map(move |name| dir.join(format!("{name}.rs")))
        })
        .collect();
    all.retain(|f| {
        let s = f.to_string_lossy().replace('\\', "/");
        !(s == "sim/cli.rs"
            || s.starts_with("sim/cli/")
            || ALLOWED.contains(&s.as_str())
            || test_modules.contains(f))
    });
    all.sort();
    all
}

/// Where the files of `file`'s submodules are: beside a `mod.rs` or `lib.rs`, else in the
/// folder named after the file (`sim/event.rs` → `sim/event/`).
fn module_dir(file: &Path) -> PathBuf {
    let parent = file.parent().expect("under sim/");
    match file.file_stem().and_then(|s| s.to_str()) {
        Some("mod" | "lib" | "main") | None => parent.to_path_buf(),
        Some(stem) => parent.join(stem),
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(root.join(dir)).expect("a readable directory");
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let path = dir.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            walk(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (line, forbidden text, why) for each occurrence in the file's library code.
fn violations(text: &str) -> Vec<(usize, &'static str, &'static str)> {
    let code = without_test_items(&code_only(text));
    let mut found = Vec::new();
    for (i, line) in code.lines().enumerate() {
        for &(what, why) in FORBIDDEN {
            if occurs(line, what) {
                found.push((i + 1, what, why));
            }
        }
    }
    found
}

/// `what` in `line` as a whole token: not the tail of a longer name (`print!` in
/// `eprint!`, `exit::` in `my_exit::`).
fn occurs(line: &str, what: &str) -> bool {
    line.match_indices(what).any(|(at, _)| {
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The source with comments, string and character literals blanked (spaces; line breaks
/// kept, so line numbers hold): what is left is code.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let end = literal_or_comment_end(&chars, i);
        if end > i {
            out.extend(chars[i..end].iter().map(|&c| blank(c)));
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// If a comment or a literal starts at `i`, the index just past it; else `i`.
fn literal_or_comment_end(chars: &[char], i: usize) -> usize {
    let at = |k: usize| chars.get(k).copied();
    let ident_before = |k: usize| k > 0 && (chars[k - 1].is_alphanumeric() || chars[k - 1] == '_');
    match (at(i), at(i + 1)) {
        (Some('/'), Some('/')) => (i..chars.len())
            .find(|&k| chars[k] == '\n')
            .unwrap_or(chars.len()),
        (Some('/'), Some('*')) => block_comment_end(chars, i),
        (Some('"'), _) => quoted_end(chars, i + 1, '"'),
        (Some('r'), Some('"' | '#')) if !ident_before(i) => raw_string_end(chars, i + 1),
        (Some('b'), Some('r')) if !ident_before(i) => raw_string_end(chars, i + 2),
        (Some('\''), Some('\\')) => quoted_end(chars, i + 1, '\''),
        // 'x' is a character; 'a (no closing quote after one character) a lifetime.
        (Some('\''), Some(_)) if at(i + 2) == Some('\'') => i + 3,
        _ => i,
    }
}

fn block_comment_end(chars: &[char], start: usize) -> usize {
    let (mut depth, mut k) = (0, start);
    while k + 1 < chars.len() {
        match (chars[k], chars[k + 1]) {
            ('/', '*') => {
                depth += 1;
                k += 2;
            }
            ('*', '/') => {
                depth -= 1;
                k += 2;
                if depth == 0 {
                    return k;
                }
            }
            _ => k += 1,
        }
    }
    chars.len()
}

/// Past the `close` that ends a literal whose contents start at `k` (backslash escapes).
fn quoted_end(chars: &[char], mut k: usize, close: char) -> usize {
    while k < chars.len() {
        match chars[k] {
            '\\' => k += 2,
            c if c == close => return k + 1,
            _ => k += 1,
        }
    }
    chars.len()
}

/// Past a raw string (`r"…"`, `r#"…"#`) whose hashes or opening quote are at `k`; if none
/// opens there (a raw identifier, `r#type`, or a name like `br`), `k`: only the prefix is
/// blanked, which changes nothing.
fn raw_string_end(chars: &[char], k: usize) -> usize {
    let hashes = chars[k..].iter().take_while(|&&c| c == '#').count();
    if chars.get(k + hashes) != Some(&'"') {
        return k;
    }
    let closes =
        |j: usize| chars[j] == '"' && chars[j + 1..].iter().take(hashes).all(|&c| c == '#');
    let body = k + hashes + 1;
    (body..chars.len())
        .find(|&j| closes(j) && j + hashes < chars.len())
        .map_or(chars.len(), |j| j + 1 + hashes)
}

/// The code with every `#[cfg(test)]` item (a test module, a test-only function) blanked.
fn without_test_items(code: &str) -> String {
    let mut out: Vec<char> = code.chars().collect();
    let text: String = out.iter().collect();
    for (at, _) in text.match_indices("#[cfg(test)]") {
        let start = text[..at].chars().count();
        let end = item_end(&out, start);
        for c in &mut out[start..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    }
    out.into_iter().collect()
}

/// Past the item whose attribute starts at `start`: its `;` if it has no body, else its
/// closing brace (brackets and parentheses count, so `[u8; 4]` does not end it).
fn item_end(chars: &[char], start: usize) -> usize {
    let attribute = "#[cfg(test)]".len();
    let mut depth = 0;
    for (k, &c) in chars.iter().enumerate().skip(start + attribute) {
        match c {
            ';' if depth == 0 => return k + 1,
            '{' | '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    chars.len()
}

/// `name` for every `#[cfg(test)] mod name;` (a test module in a file of its own).
fn test_module_names(code: &str) -> Vec<String> {
    code.match_indices("#[cfg(test)]")
        .filter_map(|(at, attr)| {
            let rest = code[at + attr.len()..].trim_start();
            let rest = rest.strip_prefix("mod")?.trim_start();
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            rest[name.len()..]
                .trim_start()
                .starts_with(';')
                .then_some(name)
        })
        .collect()
}

// The scanner itself: what it must see, and what it must leave alone.

#[test]
fn the_scan_finds_printing_and_exit_codes_in_code() {
    let text = "fn f() -> i32 {\n    eprintln!(\"error: {e}\");\n    print!(\"x\");\n    \
                std::process::exit(2);\n    let _ = std::io::stdout();\n    crate::exit::BAD_INPUT\n}\n";
    let found: Vec<(usize, &str)> = violations(text)
        .into_iter()
        .map(|(l, w, _)| (l, w))
        .collect();
    assert_eq!(
        found,
        [
            (2, "eprintln!"),
            (3, "print!"),
            (4, "process::exit"),
            (5, "io::stdout"),
            (6, "exit::")
        ]
    );
}

#[test]
fn the_scan_leaves_comments_strings_and_test_items_alone() {
    let text = r##"
//! Exit codes: `exit::OK` when all is well; the cli does `println!`.
/* a block comment: eprintln!("x") /* nested: dbg!(x) */ still a comment: print!() */
const HELP: &str = "use println!(\"{}\") and exit::OK";
const RAW: &str = r#"eprintln!("x"); exit::RUNTIME"#;
const BRACE: char = '{';
fn writes<'a>(out: &'a mut String) -> &'a str { out.push_str("a\"b println!"); out }
fn my_exit::<T>() {}
#[cfg(test)]
mod tests {
    fn helper() { println!("{}", '}'); }
}
#[cfg(test)]
fn only_in_tests() { dbg!(1); }
fn after() { eprint!("still seen"); }
"##;
    let found: Vec<(usize, &str)> = violations(text)
        .into_iter()
        .map(|(l, w, _)| (l, w))
        .collect();
    assert_eq!(found, [(15, "eprint!")]);
}

#[test]
fn test_modules_in_files_of_their_own_are_recognised() {
    let code = code_only("mod a;\n#[cfg(test)]\nmod plan_tests;\n#[cfg(test)]\nmod tests {}\n");
    assert_eq!(test_module_names(&code), ["plan_tests"]);
}
