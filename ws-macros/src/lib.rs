//! The `#[websocket_handler]` procedural macro of lariat: one `impl` block of
//! clauses becomes an implementation of `lariat::Handler` (DESIGN §2).
//!
//! Applications use it through the facade, `lariat::websocket_handler`,
//! where its documentation lives with a complete example.
//!
//! The pipeline (STYLE.md): `parse` turns tokens into the typed `model`,
//! never panicking; `check` applies the rules that need the whole block;
//! `expand` generates code from a valid model, and `fallback` what is
//! emitted with errors. All errors go through one accumulator (`ctxt`) and
//! are reported together.

mod check;
mod ctxt;
mod expand;
mod fallback;
mod model;
mod parse;

use proc_macro::TokenStream;

#[doc = include_str!("websocket_handler.md")]
#[proc_macro_attribute]
pub fn websocket_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    websocket_handler_impl(args.into(), item.into()).into()
}

/// parse → check → expand, or the fallback with every error at once.
fn websocket_handler_impl(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut errors = ctxt::Errors::default();
    match parse::input(args, item, &mut errors) {
        parse::Input::Handler(handler) => {
            check::handler(&handler, &mut errors);
            if errors.is_empty() {
                expand::handler(&handler)
            } else {
                fallback::handler(&handler, &errors)
            }
        }
        parse::Input::Other(item) => {
            let errors = errors.to_compile_errors();
            quote::quote!(#errors #item)
        }
    }
}
