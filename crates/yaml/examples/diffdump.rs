//! Temporary: dumps load results for differential testing against PyYAML.
use std::io::Read;
fn main() {
    let mut input = String::new();
    let _ = std::io::stdin().read_to_string(&mut input);
    for case in input.split('\0') {
        match tend_yaml::load_one(case) {
            Ok(node) => println!("OK {}", node.to_json()),
            Err(e) => println!("ERR {}:{} {}", e.span.line, e.span.col, e.message),
        }
    }
}
