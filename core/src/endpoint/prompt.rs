//! Synthetic prompts of a requested length, and the token rule `profcmp serve` counts with.
//!
//! A prompt of ISL tokens is ISL words drawn from [`WORDS`], separated by single spaces. Each
//! word is common English, one token (with its leading space) in the BPE vocabularies of
//! current LLMs, so a real server sees about ISL tokens; the server's reported
//! `usage.prompt_tokens` is recorded when it sends one. `profcmp serve` and the project's test
//! tokenizer (`tests/fixtures/tokenizer/`, a word-level tokenizer splitting on whitespace) count
//! one token per whitespace-separated word, so there a prompt is exactly ISL tokens, whether
//! profcmp or aiperf made it.

/// The words prompts and `profcmp serve`'s outputs are made of (also the test tokenizer's
/// vocabulary, with `[UNK]`).
pub const WORDS: [&str; 64] = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he",
    "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were", "their",
    "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would", "who", "so", "no",
    "time", "new", "some", "other", "first", "out", "what", "up", "about", "into", "than", "them", "may", "only",
    "over", "most",
];

/// A prompt of `n_tokens` words; different `seed`s give different prompts (no shared prefix
/// beyond chance), the same seed the same prompt.
pub fn prompt(n_tokens: u32, seed: u64) -> String {
    let mut text = String::with_capacity(n_tokens as usize * 5);
    let mut state = seed;
    for i in 0..n_tokens {
        if i > 0 {
            text.push(' ');
        }
        state = splitmix(state);
        text.push_str(WORDS[(state % WORDS.len() as u64) as usize]);
    }
    text
}

/// The `i`-th word of a generated output (each a token, as in prompts).
pub fn output_word(i: u32) -> &'static str {
    WORDS[i as usize % WORDS.len()]
}

/// Tokens in `text` as `profcmp serve` counts them: whitespace-separated words.
pub fn count_tokens(text: &str) -> u32 {
    text.split_whitespace().count() as u32
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_have_the_requested_token_count_and_differ_by_seed() {
        for n in [1, 2, 100, 2048] {
            assert_eq!(count_tokens(&prompt(n, 7)), n);
        }
        assert_eq!(prompt(50, 1), prompt(50, 1));
        assert_ne!(prompt(50, 1), prompt(50, 2));
        assert_eq!(count_tokens("  a\tb\n c "), 3);
    }
}
