//! What is emitted when there are errors: the user's impl block (helper
//! attributes removed, so rustc does not add "unknown attribute" errors),
//! the errors, and a stub `impl Handler` so that uses of the handler
//! (`Chat::handler()`, `Session::<Chat>`) do not cascade into "trait not
//! implemented" errors. The user sees our errors and nothing else.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ctxt::Errors;
use crate::expand;
use crate::model::Handler;

/// The impl block, the errors and a stub `impl Handler`.
pub(crate) fn handler(handler: &Handler, errors: &Errors) -> TokenStream {
    let mut item = handler.item.clone();
    // The generated impl that would call the methods is not there.
    item.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
    let krate = &handler.krate;
    let self_ty = handler.self_ty();
    let info_ty = expand::info_type(handler);
    let errors = errors.to_compile_errors();
    quote! {
        #errors

        #item

        impl #krate::Handler for #self_ty {
            type Info = #info_ty;
            async fn init(_: &#krate::Request) -> #krate::Init<Self> {
                ::core::unreachable!()
            }
        }
    }
}
