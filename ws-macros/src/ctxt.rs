//! The error accumulator: every stage reports into one `Errors`, so a user
//! sees all their mistakes at once, each at its own tokens (serde_derive's
//! `Ctxt`).

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Errors collected across parse and check.
#[derive(Default)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    /// An error spanning the tokens of `tokens` (first to last).
    pub(crate) fn spanned<T: ToTokens, M: Display>(&mut self, tokens: T, message: M) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// An error at one span.
    pub(crate) fn at<M: Display>(&mut self, span: Span, message: M) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// An error syn already made (a parse error).
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// How many errors were reported so far.
    pub(crate) fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether nothing was reported.
    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The messages, for unit tests.
    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.errors.iter().map(ToString::to_string).collect()
    }

    /// Every error as a `compile_error!` at its span, in source order (the
    /// rules run one after another, a reader goes top to bottom).
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        let mut errors: Vec<&syn::Error> = self.errors.iter().collect();
        errors.sort_by_key(|error| {
            let start = error.span().start();
            (start.line, start.column)
        });
        errors
            .into_iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }
}
