//! The validated model to code: the user's impl block (helper attributes
//! removed) and an `impl Handler` that dispatches to its methods. Infallible:
//! everything that can be wrong was reported by `parse` or `check`.
//!
//! Generated paths start at the facade (`::lariat` or `crate = path`);
//! locals are `__lariat_`-prefixed with mixed-site hygiene, so they can
//! neither capture nor be captured by the user's names. Code whose failure
//! rustc reports (a parameter type, the info match, `Default`) is spanned at
//! the user's tokens, so the error lands there.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{
    Arg, Callback, CallbackKind, Clause, FrameArg, FrameKind, FramePattern, Handler, InfoPattern,
    Method, Param, Receiver,
};

/// The user's impl block and the generated `impl Handler`.
pub(crate) fn handler(handler: &Handler) -> TokenStream {
    let item = &handler.item;
    let krate = &handler.krate;
    let self_ty = handler.self_ty();
    let info_ty = info_type(handler);
    let init = callbacks(handler, CallbackKind::Init);
    let open = callbacks(handler, CallbackKind::Open);
    let handle = handle(handler);
    let info = info(handler);
    let terminate = callbacks(handler, CallbackKind::Terminate);
    quote! {
        #item

        impl #krate::Handler for #self_ty {
            type Info = #info_ty;
            #init
            #open
            #handle
            #info
            #terminate
        }
    }
}

/// `info = T`, or the uninhabited `Never` for a handler without `#[info]`.
pub(crate) fn info_type(handler: &Handler) -> TokenStream {
    let krate = &handler.krate;
    match &handler.info {
        Some(ty) => ty.to_token_stream(),
        None => quote!(#krate::Never),
    }
}

/// A hidden local: `__lariat_`-prefixed, mixed-site hygiene.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// `tokens` with every span set to `span`. Only for paths: it would change
/// what a local identifier resolves to.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// The spans of the first and last tokens of `tokens`: rustc reports an
/// expression made of tokens from the first to the last as that whole range
/// (stable proc macros cannot join spans themselves).
fn span_range(tokens: &impl ToTokens) -> (Span, Span) {
    let mut trees = tokens.to_token_stream().into_iter();
    let first = trees.next().map_or_else(Span::call_site, |t| t.span());
    let last = trees.last().map_or(first, |t| t.span());
    (first, last)
}

/// `path(args)` with the path spanned at the first token of `at` and the
/// parentheses at its last, so an error about the call (an unmet bound, a
/// type mismatch) underlines `at`; `args` keep their own spans and hygiene.
fn call_at(path: TokenStream, args: TokenStream, at: &impl ToTokens) -> TokenStream {
    let (first, last) = span_range(at);
    let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, args);
    group.set_span(last);
    let path = respan(path, first);
    quote!(#path #group)
}

/// The `ctx` argument: `FromCtx::from_ctx(ctx)`, so a `Ctx` of another
/// info type is reported at the parameter. rustc points an unmet bound that
/// comes from an argument's type at the argument, so the argument is a
/// reborrow named with the span of the type's own info argument (`String`
/// in `&mut Ctx<String>`).
fn ctx_arg(krate: &syn::Path, param: &Param) -> TokenStream {
    let ctx = local("__lariat_ctx");
    let arg = Ident::new("__lariat_ctx_arg", ctx_info_span(&param.ty));
    let call = call_at(
        quote!(#krate::__private::FromCtx::from_ctx),
        quote!(#arg),
        &param.ty,
    );
    quote!({
        let #arg = &mut *#ctx;
        #call
    })
}

/// The span of `I` in `&mut Ctx<I>`, or of `Ctx`, or of the whole type.
fn ctx_info_span(ty: &syn::Type) -> Span {
    match ty {
        syn::Type::Reference(r) => ctx_info_span(&r.elem),
        syn::Type::Paren(p) => ctx_info_span(&p.elem),
        syn::Type::Group(g) => ctx_info_span(&g.elem),
        syn::Type::Path(path) => match path.path.segments.last() {
            Some(segment) => match &segment.arguments {
                syn::PathArguments::AngleBracketed(args) => match args.args.first() {
                    Some(first) => span_range(first).0,
                    None => segment.ident.span(),
                },
                _ => segment.ident.span(),
            },
            None => ty.span(),
        },
        other => other.span(),
    }
}

/// A local passed to a parameter, as a block whose result is named with the
/// span of the parameter's type: a type mismatch is reported there rather
/// than at the attribute.
fn arg_at(local: &Ident, param: &Param) -> TokenStream {
    let arg = Ident::new("__lariat_arg", span_range(&param.ty).1);
    quote!({
        let #arg = #local;
        #arg
    })
}

/// `Self::name(self, args..)`, awaited for an `async fn`.
fn call(method: &Method, args: &[TokenStream]) -> TokenStream {
    let ident = &method.ident;
    let receiver = match method.receiver {
        Receiver::None => None,
        Receiver::Ref | Receiver::Value(_) => Some(quote!(self,)),
    };
    let wait = method.is_async().then(|| quote!(.await));
    quote!(Self::#ident(#receiver #(#args),*) #wait)
}

/// The trait methods for one callback: one per definition (several only
/// under different `#[cfg]`s). Without an active `init`, the handler starts
/// from `Default`.
fn callbacks(handler: &Handler, kind: CallbackKind) -> TokenStream {
    let defs: Vec<&Callback> = handler.callbacks(kind).collect();
    // An unconditional definition wins; rustc reports any duplicate of it in
    // the user's impl block.
    let chosen = match defs.iter().find(|c| c.method.cfgs.is_empty()) {
        Some(unconditional) => vec![*unconditional],
        None => defs,
    };
    let mut out: TokenStream = chosen.iter().map(|c| callback(handler, c)).collect();
    let all_conditional = chosen.iter().all(|c| !c.method.cfgs.is_empty());
    if kind == CallbackKind::Init && all_conditional {
        let predicates = chosen.iter().map(|c| {
            let predicates = c.method.cfg_predicates();
            quote!(all(#(#predicates),*))
        });
        let cfg = (!chosen.is_empty()).then(|| quote!(#[cfg(not(any(#(#predicates),*)))]));
        out.extend(default_init(handler, cfg));
    }
    out
}

fn callback(handler: &Handler, callback: &Callback) -> TokenStream {
    let krate = &handler.krate;
    let method = &callback.method;
    let cfgs = &method.cfgs;
    match callback.kind {
        CallbackKind::Init => {
            let req = local("__lariat_req");
            let args: Vec<TokenStream> = method
                .params
                .iter()
                .take(1)
                .map(|p| arg_at(&req, p))
                .collect();
            let call = call(method, &args);
            quote! {
                #(#cfgs)*
                async fn init(#req: &#krate::Request) -> #krate::Init<Self> {
                    #call
                }
            }
        }
        CallbackKind::Open => {
            let ctx = local("__lariat_ctx");
            let args: Vec<TokenStream> = method.params.iter().map(|p| ctx_arg(krate, p)).collect();
            let call = call(method, &args);
            quote! {
                #(#cfgs)*
                async fn open(&mut self, #ctx: &mut #krate::Ctx<<Self as #krate::Handler>::Info>) -> #krate::Reply {
                    #call
                }
            }
        }
        CallbackKind::Terminate => {
            let reason = local("__lariat_reason");
            let args: Vec<TokenStream> = method
                .params
                .iter()
                .take(1)
                .map(|p| arg_at(&reason, p))
                .collect();
            let call = call(method, &args);
            quote! {
                #(#cfgs)*
                async fn terminate(&mut self, #reason: &#krate::Terminate) {
                    #call;
                }
            }
        }
    }
}

/// `init` for a handler without one: `Init::upgrade(Self::default())`. The
/// `DefaultState` bound is spanned at the handler type, where its
/// `on_unimplemented` message says to derive `Default` or write `init`.
fn default_init(handler: &Handler, cfg: Option<TokenStream>) -> TokenStream {
    let krate = &handler.krate;
    let self_ty = handler.self_ty();
    let state = call_at(
        quote!(<#self_ty as #krate::__private::DefaultState>::default_state),
        TokenStream::new(),
        self_ty,
    );
    quote! {
        #cfg
        async fn init(_: &#krate::Request) -> #krate::Init<Self> {
            #krate::Init::upgrade(#state)
        }
    }
}

/// `handle`: one `match` on the frame with an arm per clause, in source
/// order; an unmatched text or binary message closes with 1003, an
/// unmatched ping or pong is ignored (`lariat::unmatched`).
fn handle(handler: &Handler) -> Option<TokenStream> {
    let clauses: Vec<(&Clause, &FramePattern)> = handler.frame_clauses().collect();
    if clauses.is_empty() {
        return None;
    }
    let krate = &handler.krate;
    let frame = local("__lariat_frame");
    let ctx = local("__lariat_ctx");
    let arms = clauses
        .iter()
        .map(|(clause, pattern)| frame_arm(handler, clause, pattern));
    Some(quote! {
        async fn handle(
            &mut self,
            #frame: #krate::Frame,
            #ctx: &mut #krate::Ctx<<Self as #krate::Handler>::Info>,
        ) -> #krate::Reply {
            match #frame {
                #(#arms)*
                #frame => #krate::unmatched(&#frame),
            }
        }
    })
}

fn frame_arm(handler: &Handler, clause: &Clause, pattern: &FramePattern) -> TokenStream {
    let krate = &handler.krate;
    let payload = local("__lariat_payload");
    let variant = Ident::new(pattern.kind.name(), Span::call_site());
    let mut conditions = Vec::new();
    if let FrameArg::Literal(lit) = &pattern.arg {
        conditions.push(match pattern.kind {
            FrameKind::Text => quote!(#krate::__private::text_is(&#payload, #lit)),
            _ => quote!(#krate::__private::bytes_are(&#payload, #lit)),
        });
    }
    if let Some(guard) = &clause.guard {
        // The guard sees the binding as `&str` / `&[u8]`, and `self`.
        conditions.push(match &pattern.arg {
            FrameArg::Binding(binding) => quote!({
                #[allow(unused_variables)]
                let #binding = &*#payload;
                #guard
            }),
            FrameArg::Wildcard | FrameArg::Literal(_) => quote!({ #guard }),
        });
    }
    let guard = (!conditions.is_empty()).then(|| quote!(if #(#conditions)&&*));
    let convert = match pattern.kind {
        FrameKind::Text => quote!(FromText::from_text),
        FrameKind::Binary => quote!(FromBinary::from_binary),
        FrameKind::Ping | FrameKind::Pong | FrameKind::Close => quote!(FromControl::from_control),
    };
    let args: Vec<TokenStream> = clause
        .args()
        .into_iter()
        .map(|(param, arg)| match arg {
            // Spanned at the parameter's type: a type the payload cannot
            // become is reported there, by `on_unimplemented`.
            Arg::Binding(_) => call_at(
                quote!(#krate::__private::#convert),
                quote!(&#payload),
                &param.ty,
            ),
            Arg::Ctx | Arg::Unbound => ctx_arg(krate, param),
        })
        .collect();
    let call = call(&clause.method, &args);
    let cfgs = &clause.method.cfgs;
    quote! {
        #(#cfgs)*
        #krate::Frame::#variant(#payload) #guard => #call,
    }
}

/// `info`: one `match` on the message with an arm per clause, in source
/// order and without a fallback arm, so rustc's exhaustiveness check names
/// a variant no clause covers. The scrutinee carries the span of the
/// `info = T` type, where that error then points.
fn info(handler: &Handler) -> Option<TokenStream> {
    let info_ty = handler.info.as_ref()?;
    let krate = &handler.krate;
    let msg = Ident::new("__lariat_msg", info_ty.span());
    let ctx = local("__lariat_ctx");
    let clauses: Vec<(&Clause, &InfoPattern)> = handler.info_clauses().collect();
    let arms = clauses
        .iter()
        .map(|(clause, pattern)| info_arm(krate, clause, pattern));
    // A guarded arm that never runs and leaves exhaustiveness as it is. It
    // only keeps rustc from attaching its "add a match arm" code suggestion
    // to the last clause: that arm is in the attribute, where the suggested
    // code would land inside `#[info(..)]`. Arms of different hygiene
    // contexts get the plain help line instead.
    let never = (!clauses.is_empty()).then(|| {
        quote_spanned! {Span::mixed_site()=>
            #[allow(unreachable_patterns)]
            _ if false => #krate::Reply::ok(),
        }
    });
    Some(quote! {
        async fn info(
            &mut self,
            #msg: <Self as #krate::Handler>::Info,
            #ctx: &mut #krate::Ctx<<Self as #krate::Handler>::Info>,
        ) -> #krate::Reply {
            match #msg {
                #(#arms)*
                #never
            }
        }
    })
}

fn info_arm(krate: &syn::Path, clause: &Clause, pattern: &InfoPattern) -> TokenStream {
    let args: Vec<TokenStream> = clause
        .args()
        .into_iter()
        .map(|(param, arg)| match arg {
            // Through `InfoField`, spanned at the parameter's type, so a
            // field of another type is reported there.
            Arg::Binding(binding) => call_at(
                quote!(#krate::__private::InfoField::from_field),
                quote!(#binding),
                &param.ty,
            ),
            Arg::Ctx | Arg::Unbound => ctx_arg(krate, param),
        })
        .collect();
    let call = call(&clause.method, &args);
    let cfgs = &clause.method.cfgs;
    let pat = &pattern.pat;
    let guard = clause.guard.as_ref().map(|guard| quote!(if #guard));
    quote! {
        #(#cfgs)*
        #pat #guard => #call,
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unreachable)]
mod tests {
    use quote::quote;

    use proc_macro2::TokenStream;

    /// The items the macro emits for an impl block.
    fn expand(args: TokenStream, item: TokenStream) -> syn::File {
        let out = crate::websocket_handler_impl(args, item);
        syn::parse2(out).unwrap_or_else(|e| unreachable!("output is not items: {e}"))
    }

    fn trait_fns(file: &syn::File) -> Vec<String> {
        let Some(syn::Item::Impl(imp)) = file.items.get(1) else {
            unreachable!("no second item")
        };
        assert!(imp.trait_.is_some());
        imp.items
            .iter()
            .map(|item| match item {
                syn::ImplItem::Fn(f) => f.sig.ident.to_string(),
                syn::ImplItem::Type(t) => format!("type {}", t.ident),
                _ => String::new(),
            })
            .collect()
    }

    #[test]
    fn a_handler_becomes_its_impl_block_and_a_handler_impl() {
        let file = expand(
            quote!(info = Notice),
            quote! {
                impl Chat {
                    async fn init(req: &Request) -> Init<Self> { todo!() }
                    #[frame(Text(text))]
                    fn say(&mut self, text: String) -> Reply { todo!() }
                    #[info(Notice::Tick)]
                    fn tick(&mut self) -> Reply { todo!() }
                    fn terminate(&mut self, reason: &Terminate) {}
                }
            },
        );
        assert_eq!(file.items.len(), 2);
        let user = {
            let item = &file.items[0];
            quote!(#item).to_string()
        };
        assert!(
            !user.contains("frame") && !user.contains("# [info"),
            "{user}"
        );
        assert_eq!(
            trait_fns(&file),
            ["type Info", "init", "handle", "info", "terminate"]
        );
        let generated = {
            let item = &file.items[1];
            quote!(#item).to_string()
        };
        assert!(
            generated.starts_with("impl :: lariat :: Handler for Chat"),
            "{generated}"
        );
        assert!(generated.contains("type Info = Notice"));
        assert!(generated.contains(":: lariat :: unmatched"));
    }

    #[test]
    fn without_init_the_handler_starts_from_default_and_info_is_never() {
        let file = expand(
            quote!(crate = ::my::lariat),
            quote!(impl Echo { fn open(&mut self) -> Reply { todo!() } }),
        );
        assert_eq!(trait_fns(&file), ["type Info", "init", "open"]);
        let generated = {
            let item = &file.items[1];
            quote!(#item).to_string()
        };
        assert!(
            generated.contains("type Info = :: my :: lariat :: Never"),
            "{generated}"
        );
        assert!(generated.contains("DefaultState"), "{generated}");
    }

    #[test]
    fn with_errors_the_impl_block_errors_and_a_stub_are_emitted() {
        let out = crate::websocket_handler_impl(
            quote!(info = Notice),
            quote!(impl Chat { #[frame(Close(_))] fn c(&mut self) -> Reply { todo!() } }),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("allow (dead_code)"), "{out}");
        assert!(out.contains("impl :: lariat :: Handler for Chat"), "{out}");
        assert!(out.contains("type Info = Notice"), "{out}");
        assert!(!out.contains("# [frame"), "{out}");
    }

    #[test]
    fn not_a_handler_is_emitted_unchanged_with_the_error() {
        let out = crate::websocket_handler_impl(
            quote!(),
            quote!(
                struct Chat;
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("struct Chat ;"), "{out}");
        assert!(!out.contains("Handler"), "{out}");
    }
}
