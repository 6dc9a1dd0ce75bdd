//! spec/vectors/original replayed in process (spec/porting.md P5): every answer,
//! region byte and state of memvid's module against the ORIGINAL model's transcripts.

use walproto::vectors::replay_repository_vectors;
use walproto::Driver;

#[test]
fn the_original_vectors_pass() {
    let result =
        replay_repository_vectors("original", || Driver::new(original_driver::OriginalPort::default()));
    let (vectors, done) = result.unwrap_or_else(|errors| panic!("{}", errors.join("\n")));
    assert!(vectors >= 22, "{vectors} vectors");
    assert!(done.states_compared > 0 && done.rewrites > vectors);
    println!("{vectors} vectors: {} requests, {} states compared", done.requests, done.states_compared);
}
