//! The rules of DESIGN §2 that need the whole impl block: one `check_*`
//! function per rule, each reporting at the tokens the user must change.
//! Type-level rules (a parameter type a binding cannot become, a missing
//! info variant, a handler without `init` that is not `Default`) are left to
//! rustc on code `expand` spans at the user's tokens.

use quote::ToTokens;
use syn::{Lit, Pat, ReturnType, Type};

use crate::ctxt::Errors;
use crate::model::{
    Arg, CallbackKind, Clause, FrameArg, FrameKind, FramePattern, Handler, Method, Pattern,
    Receiver,
};

/// Runs every rule, reporting all violations.
pub(crate) fn handler(handler: &Handler, errors: &mut Errors) {
    check_no_close_clause(handler, errors);
    check_literals(handler, errors);
    check_receivers(handler, errors);
    check_plain_signatures(handler, errors);
    check_callback_params(handler, errors);
    check_returns(handler, errors);
    check_params_match_bindings(handler, errors);
    check_info_clauses_have_a_type(handler, errors);
    check_unreachable_frame_clauses(handler, errors);
    check_unreachable_info_clauses(handler, errors);
}

/// Close frames are the runtime's: it completes the closing handshake (RFC
/// 6455 §5.5.1, §7.1.5) and ends the connection with `terminate`, whose
/// reason carries the peer's code. A `Close(..)` clause would suggest the
/// handler could answer or refuse a close, which the protocol does not allow.
fn check_no_close_clause(handler: &Handler, errors: &mut Errors) {
    for (_, frame) in handler.frame_clauses() {
        if frame.kind == FrameKind::Close {
            errors.spanned(
                &frame.path,
                "close frames are handled by the runtime: it answers the closing handshake, then calls `terminate`\n\
                 = help: remove this clause and read the peer's close code in `fn terminate(&mut self, reason: &Terminate)` (`Terminate::RemoteClose { code, .. }`)",
            );
        }
    }
}

/// A literal is compared with the payload, so it must be of the payload's
/// type: a string for text, a byte string for binary, ping and pong. A
/// control payload is at most 125 bytes (RFC 6455 §5.5), so a longer literal
/// could never match.
fn check_literals(handler: &Handler, errors: &mut Errors) {
    for (_, frame) in handler.frame_clauses() {
        let FrameArg::Literal(lit) = &frame.arg else {
            continue;
        };
        let kind = frame.kind.name();
        match (frame.kind, lit) {
            (FrameKind::Text, Lit::Str(_)) | (FrameKind::Binary, Lit::ByteStr(_)) => {}
            (FrameKind::Ping | FrameKind::Pong, Lit::ByteStr(bytes)) => {
                let len = bytes.value().len();
                if len > 125 {
                    errors.spanned(
                        lit,
                        format!(
                            "this clause can never match: a {} payload is at most 125 bytes (RFC 6455 §5.5), and this literal is {len} bytes",
                            frame.kind.noun()
                        ),
                    );
                }
            }
            (FrameKind::Text, Lit::ByteStr(_)) => errors.spanned(
                lit,
                "`Text(..)` matches text, so its literal is a string: remove the `b` prefix",
            ),
            (FrameKind::Text, _) => errors.spanned(
                lit,
                "`Text(..)` matches text, so its literal is a string such as `\"/quit\"`",
            ),
            (_, Lit::Str(s)) => errors.spanned(
                lit,
                format!(
                    "`{kind}(..)` matches bytes, so its literal is a byte string: write `b{}`",
                    s.to_token_stream()
                ),
            ),
            (_, _) => errors.spanned(
                lit,
                format!(
                    "`{kind}(..)` matches bytes, so its literal is a byte string such as `b\"\\x01\"`"
                ),
            ),
        }
    }
}

/// The handler lives on between messages, so every method the runtime calls
/// borrows it (`&mut self` or `&self`); `init` runs before it exists.
fn check_receivers(handler: &Handler, errors: &mut Errors) {
    for callback in &handler.callbacks {
        let method = &callback.method;
        match (callback.kind, &method.receiver) {
            (CallbackKind::Init, Receiver::None) => {}
            (CallbackKind::Init, Receiver::Ref | Receiver::Value(_)) => {
                if let Some(receiver) = method.item.sig.receiver() {
                    errors.spanned(
                        receiver,
                        "`init` runs on the upgrade request, before there is a handler: it takes `req: &Request`, not `self`\n\
                         = help: remove `self` and build the handler in `init`: `Init::upgrade(Self { .. })`",
                    );
                }
            }
            (_, Receiver::None | Receiver::Ref) => {}
            (_, Receiver::Value(receiver)) => by_value(method, receiver, errors),
        }
    }
    for clause in &handler.clauses {
        if let Receiver::Value(receiver) = &clause.method.receiver {
            by_value(&clause.method, receiver, errors);
        }
    }
}

fn by_value(method: &Method, receiver: &syn::Receiver, errors: &mut Errors) {
    errors.spanned(
        receiver,
        format!(
            "`{}` takes `self` by value, but the runtime owns the handler and lends it to each call: take `&mut self`",
            method.ident
        ),
    );
}

/// The generated handler calls each method with fixed arguments, so it
/// cannot pick type parameters for it, and it cannot uphold the unwritten
/// contract of an `unsafe fn`.
fn check_plain_signatures(handler: &Handler, errors: &mut Errors) {
    let methods = handler
        .callbacks
        .iter()
        .map(|c| &c.method)
        .chain(handler.clauses.iter().map(|c| &c.method));
    for method in methods {
        let sig = &method.item.sig;
        let generic = sig
            .generics
            .params
            .iter()
            .any(|p| !matches!(p, syn::GenericParam::Lifetime(_)));
        if generic {
            errors.spanned(
                &sig.generics,
                format!(
                    "`{}` cannot be generic: the handler calls it with the types of its parameters\n\
                     = help: replace the type parameters with concrete types",
                    method.ident
                ),
            );
        }
        if let Some(unsafety) = &sig.unsafety {
            errors.spanned(
                unsafety,
                format!(
                    "`{}` cannot be an `unsafe fn`: the runtime calls it and cannot uphold its safety conditions",
                    method.ident
                ),
            );
        }
    }
}

/// Callbacks have fixed parameters (Cowboy's `init/2`, `websocket_init/1`,
/// `terminate/3`): `init(req)`, `open(&mut self[, ctx])`,
/// `terminate(&mut self[, reason])`.
fn check_callback_params(handler: &Handler, errors: &mut Errors) {
    for callback in &handler.callbacks {
        let method = &callback.method;
        match callback.kind {
            CallbackKind::Init => {
                borrowed(method, "init", "&Request", "request", errors);
                for extra in method.params.iter().skip(1) {
                    errors.spanned(
                        &extra.pat,
                        "`init` takes one parameter, `req: &Request`; the handler's other state comes from the request (`req.query(..)`, `req.state::<T>()`)",
                    );
                }
            }
            CallbackKind::Open => {
                let mut ctx_seen = false;
                for param in &method.params {
                    if param.is_ctx && !ctx_seen {
                        ctx_seen = true;
                    } else {
                        errors.spanned(
                            &param.pat,
                            "`open` takes `&mut self` and, if it needs it, one `ctx: &mut Ctx<Info>`",
                        );
                    }
                }
            }
            CallbackKind::Terminate => {
                borrowed(method, "terminate", "&Terminate", "reason", errors);
                for extra in method.params.iter().skip(1) {
                    errors.spanned(
                        &extra.pat,
                        "`terminate` takes `&mut self` and `reason: &Terminate`; the connection is over, so there is no `ctx`",
                    );
                }
            }
        }
    }
}

/// The request and the terminate reason are lent to the callback: the
/// runtime keeps the request for `ctx.request()`, and the reason is the
/// runtime's record of how the connection ended.
fn borrowed(method: &Method, name: &str, ty: &str, what: &str, errors: &mut Errors) {
    let Some(param) = method.params.first() else {
        return;
    };
    if !matches!(param.ty, Type::Reference(_)) {
        let pat = param.pat.to_token_stream();
        errors.spanned(
            &param.ty,
            format!("`{name}` borrows the {what}: write `{pat}: {ty}`"),
        );
    }
}

/// Every clause and `open` answer with a `Reply` (Cowboy's return tuples),
/// `init` with `Init<Self>`, and `terminate` with nothing: the connection is
/// over. The check is on the written type so the message can name the
/// method and say what to write.
fn check_returns(handler: &Handler, errors: &mut Errors) {
    const REPLY_HELP: &str = "= help: reply with `Reply::ok()` (nothing to send), `Reply::text(..)`, `Reply::frame(..)` or `Reply::close(..)`";
    for callback in &handler.callbacks {
        let method = &callback.method;
        let name = &method.ident;
        match callback.kind {
            CallbackKind::Init => {
                if !returns(method, "Init") {
                    report_return(
                        method,
                        errors,
                        &format!("`{name}` must return `Init<Self>`"),
                        "= help: `Init::upgrade(state)` accepts the WebSocket, `Init::reject(response)` answers with plain HTTP",
                    );
                }
            }
            CallbackKind::Open => {
                if !returns(method, "Reply") {
                    report_return(
                        method,
                        errors,
                        &format!("`{name}` must return `Reply`"),
                        REPLY_HELP,
                    );
                }
            }
            CallbackKind::Terminate => {
                if let ReturnType::Type(_, ty) = method.output()
                    && !is_unit(ty)
                {
                    errors.spanned(
                        ty,
                        format!(
                            "`{name}` must return `()`, not `{}`: the connection is over, there is nothing left to answer\n\
                             = help: remove `-> {}`",
                            display(ty),
                            display(ty)
                        ),
                    );
                }
            }
        }
    }
    for clause in &handler.clauses {
        let method = &clause.method;
        if !returns(method, "Reply") {
            report_return(
                method,
                errors,
                &format!("the clause `{}` must return `Reply`", method.ident),
                REPLY_HELP,
            );
        }
    }
}

/// Whether the written return type is `Name` or `path::Name<..>`.
fn returns(method: &Method, name: &str) -> bool {
    match method.output() {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) => last_segment_is(ty, name),
    }
}

fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none() && path.path.segments.last().is_some_and(|s| s.ident == name)
        }
        Type::Paren(paren) => last_segment_is(&paren.elem, name),
        Type::Group(group) => last_segment_is(&group.elem, name),
        _ => false,
    }
}

fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        Type::Paren(paren) => is_unit(&paren.elem),
        _ => false,
    }
}

fn report_return(method: &Method, errors: &mut Errors, must: &str, help: &str) {
    match method.output() {
        ReturnType::Type(_, ty) => {
            errors.spanned(ty, format!("{must}, not `{}`\n{help}", display(ty)));
        }
        ReturnType::Default => {
            let sig = &method.item.sig;
            let fn_token = &sig.fn_token;
            let ident = &sig.ident;
            errors.spanned(
                quote::quote!(#fn_token #ident),
                format!("{must}, but it returns nothing\n{help}"),
            );
        }
    }
}

/// Parameters are filled by name from the pattern's bindings, plus the
/// connection's `ctx`. A parameter nothing fills is almost always a typo in
/// the pattern or the parameter; a binding nothing takes is a value silently
/// dropped, and as in Rust a leading `_` says that is meant. When a clause
/// has both, they are one mistake (a rename), reported once at the
/// parameter.
fn check_params_match_bindings(handler: &Handler, errors: &mut Errors) {
    for clause in &handler.clauses {
        let method = &clause.method;
        let untaken: Vec<&syn::Ident> = clause
            .bindings()
            .into_iter()
            .filter(|binding| {
                !binding.to_string().starts_with('_')
                    && !method
                        .params
                        .iter()
                        .any(|p| p.ident.as_ref() == Some(*binding))
            })
            .collect();
        let bound = match clause.bindings().as_slice() {
            [] => "its pattern binds no names".to_owned(),
            bindings => format!(
                "its pattern binds {}",
                bindings
                    .iter()
                    .map(|b| format!("`{b}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut ctx_seen = false;
        let mut unbound = 0;
        for (param, arg) in clause.args() {
            match arg {
                Arg::Binding(_) => {}
                Arg::Ctx if !ctx_seen => ctx_seen = true,
                Arg::Ctx => errors.spanned(
                    &param.pat,
                    format!(
                        "`{}` already takes `ctx`: one `&mut Ctx<..>` parameter is enough",
                        method.ident
                    ),
                ),
                Arg::Unbound => {
                    unbound += 1;
                    let help = match untaken.as_slice() {
                        [only] => {
                            format!("rename it `{only}`, or rename the binding in the pattern")
                        }
                        _ => {
                            "a clause takes the names its pattern binds, and `ctx: &mut Ctx<Info>`"
                                .to_owned()
                        }
                    };
                    let message = match &param.ident {
                        Some(ident) => format!(
                            "`{}` has a parameter `{ident}`, but {bound}\n= help: {help}",
                            method.ident
                        ),
                        None => format!(
                            "name this parameter after a name the pattern binds, or make it `ctx: &mut Ctx<Info>`; {bound}"
                        ),
                    };
                    errors.spanned(&param.pat, message);
                }
            }
        }
        if unbound > 0 {
            continue;
        }
        for binding in untaken {
            let param = match &clause.pattern {
                Pattern::Frame(frame) => match frame.kind {
                    FrameKind::Text => format!("`{binding}: String` (or `&str`, `Text`)"),
                    FrameKind::Binary => format!("`{binding}: Bytes` (or `&[u8]`, `Vec<u8>`)"),
                    _ => format!("`{binding}: Bytes` (or `&[u8]`, `Vec<u8>`, `ControlPayload`)"),
                },
                Pattern::Info(_) => format!("`{binding}` of the field's type"),
            };
            errors.spanned(
                binding,
                format!(
                    "`{binding}` is bound by the pattern, but `{}` has no parameter `{binding}`\n\
                     = help: add a parameter {param}, or write `_{binding}` to ignore it",
                    method.ident
                ),
            );
        }
    }
}

/// `#[info]` patterns are patterns of the info type, and the generated
/// handler needs that type for `Handler::Info`; it cannot be guessed from
/// patterns, so it is written once in the attribute.
fn check_info_clauses_have_a_type(handler: &Handler, errors: &mut Errors) {
    if handler.info.is_some() || handler.args_malformed {
        return;
    }
    let Some((clause, info)) = handler.info_clauses().next() else {
        return;
    };
    let guess = enum_name(&info.pat).unwrap_or_else(|| "Notice".to_owned());
    errors.spanned(
        &clause.attr,
        format!(
            "`#[info]` clauses need the type of the messages they match\n\
             = help: name it in the attribute: `#[websocket_handler(info = {guess})]`"
        ),
    );
}

/// The enum an info pattern names (`Notice` in `Notice::Tick`).
fn enum_name(pat: &Pat) -> Option<String> {
    let path = match pat {
        Pat::Path(p) => &p.path,
        Pat::TupleStruct(p) => &p.path,
        Pat::Struct(p) => &p.path,
        Pat::Or(or) => return or.cases.iter().find_map(enum_name),
        _ => return None,
    };
    let mut segments = path.segments.iter().rev();
    segments.next();
    segments.next().map(|s| s.ident.to_string())
}

/// Clauses are tried top to bottom (Erlang function clauses), so one after
/// an unguarded catch-all of its kind, or after the same literal, is dead
/// code that reads as if it did something. A catch-all under `#[cfg]` may be
/// compiled out, so it does not count.
fn check_unreachable_frame_clauses(handler: &Handler, errors: &mut Errors) {
    let mut earlier: Vec<(&Clause, &FramePattern)> = Vec::new();
    for (clause, frame) in handler.frame_clauses() {
        let shadow = earlier.iter().find(|(before, before_frame)| {
            before.method.cfgs.is_empty()
                && before.guard.is_none()
                && before_frame.kind == frame.kind
                && match (&before_frame.arg, &frame.arg) {
                    (FrameArg::Binding(_) | FrameArg::Wildcard, _) => true,
                    (FrameArg::Literal(a), FrameArg::Literal(b)) => same_literal(a, b),
                    _ => false,
                }
        });
        if let Some((before, before_frame)) = shadow {
            let what = match &before_frame.arg {
                FrameArg::Literal(_) => format!("matches `{}`", describe(before_frame)),
                _ => format!(
                    "takes every {} (`{}` has no guard)",
                    frame.kind.noun(),
                    describe(before_frame)
                ),
            };
            errors.spanned(
                &clause.attr,
                format!(
                    "this clause can never match: `{}` above already {what}\n\
                     = help: clauses are tried top to bottom; move this one above `{}`, or remove it",
                    before.method.ident, before.method.ident
                ),
            );
        }
        earlier.push((clause, frame));
    }
}

fn same_literal(a: &Lit, b: &Lit) -> bool {
    match (a, b) {
        (Lit::Str(a), Lit::Str(b)) => a.value() == b.value(),
        (Lit::ByteStr(a), Lit::ByteStr(b)) => a.value() == b.value(),
        _ => false,
    }
}

/// `Text(text)`, `Binary(_)`, `Text("/quit")`.
fn describe(frame: &FramePattern) -> String {
    let arg = match &frame.arg {
        FrameArg::Binding(ident) => ident.to_string(),
        FrameArg::Wildcard => "_".to_owned(),
        FrameArg::Literal(lit) => lit.to_token_stream().to_string(),
    };
    format!("{}({arg})", frame.kind.name())
}

/// As for frames: after an unguarded `_` or plain name, no info clause runs.
/// (Overlaps between specific patterns are left to rustc's own
/// unreachable-pattern lint on the generated `match`.)
fn check_unreachable_info_clauses(handler: &Handler, errors: &mut Errors) {
    let mut catch_all: Option<&Clause> = None;
    for (clause, _) in handler.info_clauses() {
        if let Some(before) = catch_all {
            errors.spanned(
                &clause.attr,
                format!(
                    "this clause can never match: `{}` above already takes every message (its pattern has no guard)\n\
                     = help: clauses are tried top to bottom; move this one above `{}`, or remove it",
                    before.method.ident, before.method.ident
                ),
            );
        } else if clause.is_catch_all() && clause.method.cfgs.is_empty() {
            catch_all = Some(clause);
        }
    }
}

/// A type as a user would write it: `Vec<u8>`, not `Vec < u8 >`.
pub(crate) fn display(ty: &Type) -> String {
    let mut out = ty.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" :: ", "::"),
        (":: ", "::"),
        (" ,", ","),
        ("& ", "&"),
        ("[ ", "["),
        (" ]", "]"),
        ("( ", "("),
        (" )", ")"),
    ] {
        out = out.replace(from, to);
    }
    out
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unreachable)]
mod tests {
    use super::*;
    use crate::parse::{Input, input};
    use proc_macro2::TokenStream;
    use quote::quote;

    /// The messages of parse and check for an impl block.
    fn check(args: TokenStream, item: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        match input(args, item, &mut errors) {
            Input::Handler(h) => handler(&h, &mut errors),
            Input::Other(_) => {}
        }
        errors.messages()
    }

    fn one(messages: &[String], expected: &str) {
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].contains(expected),
            "{messages:?} lacks {expected:?}"
        );
    }

    #[test]
    fn the_chat_handler_is_valid() {
        let messages = check(
            quote!(info = Notice),
            quote! {
                impl Chat {
                    async fn init(req: &Request) -> Init<Self> { todo!() }
                    async fn open(&mut self, ctx: &mut Ctx<Notice>) -> Reply { todo!() }
                    #[frame(Text("/quit"))]
                    fn quit(&mut self) -> Reply { todo!() }
                    #[frame(Text(cmd) if cmd.starts_with("/nick "))]
                    fn rename(&mut self, cmd: &str) -> Reply { todo!() }
                    #[frame(Text(text))]
                    fn say(&mut self, text: String) -> Reply { todo!() }
                    #[info(Notice::Said { from, text })]
                    fn relay(&mut self, from: String, text: String) -> Reply { todo!() }
                    #[info(Notice::Tick)]
                    fn tick(&mut self, ctx: &mut Ctx<Notice>) -> Reply { todo!() }
                    #[info(Notice::Kick(code))]
                    fn kick(&mut self, code: CloseCode) -> Reply { todo!() }
                    fn terminate(&mut self, reason: &Terminate) {}
                }
            },
        );
        assert!(messages.is_empty(), "{messages:?}");
    }

    #[test]
    fn close_clauses_are_the_runtimes() {
        let messages = check(
            quote!(),
            quote!(impl A { #[frame(Close(_))] fn c(&mut self) -> Reply { todo!() } }),
        );
        one(&messages, "close frames are handled by the runtime");
    }

    #[test]
    fn literals_match_the_payload_type() {
        let messages = check(
            quote!(),
            quote! {
                impl A {
                    #[frame(Text(b"x"))] fn a(&mut self) -> Reply { todo!() }
                    #[frame(Binary("x"))] fn b(&mut self) -> Reply { todo!() }
                    #[frame(Ping(1))] fn c(&mut self) -> Reply { todo!() }
                    #[frame(Text('x'))] fn d(&mut self) -> Reply { todo!() }
                }
            },
        );
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("remove the `b` prefix"));
        assert!(messages[1].contains("write `b\"x\"`"));
        assert!(messages[2].contains("byte string such as"));
        assert!(messages[3].contains("a string such as"));
    }

    #[test]
    fn a_control_literal_over_125_bytes_never_matches() {
        let long = syn::LitByteStr::new(&[b'.'; 126], proc_macro2::Span::call_site());
        let messages = check(
            quote!(),
            quote!(impl A { #[frame(Pong(#long))] fn c(&mut self) -> Reply { todo!() } }),
        );
        one(&messages, "this literal is 126 bytes");
    }

    #[test]
    fn signatures_of_callbacks() {
        let messages = check(
            quote!(),
            quote! {
                impl A {
                    fn init(&self, req: &Request, extra: u8) -> Self { todo!() }
                    fn open(&mut self, extra: u8) {}
                    fn terminate(self, reason: &Terminate, more: u8) -> bool { todo!() }
                }
            },
        );
        let expected = [
            "`init` runs on the upgrade request",
            "`terminate` takes `self` by value",
            "`init` takes one parameter",
            "`open` takes `&mut self` and, if it needs it, one `ctx",
            "`terminate` takes `&mut self` and `reason: &Terminate`",
            "`init` must return `Init<Self>`, not `Self`",
            "`open` must return `Reply`, but it returns nothing",
            "`terminate` must return `()`, not `bool`",
        ];
        assert_eq!(messages.len(), expected.len(), "{messages:?}");
        for (message, expected) in messages.iter().zip(expected) {
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn clauses_return_reply_and_are_plain() {
        let messages = check(
            quote!(),
            quote! {
                impl A {
                    #[frame(Text(_))] fn a(&mut self) -> String { todo!() }
                    #[frame(Binary(_))] fn b(&mut self) {}
                    #[frame(Ping(_))] fn c<T>(&mut self) -> Reply { todo!() }
                    #[frame(Pong(_))] unsafe fn d(&mut self) -> lariat::Reply { todo!() }
                }
            },
        );
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("`c` cannot be generic"));
        assert!(messages[1].contains("`d` cannot be an `unsafe fn`"));
        assert!(messages[2].contains("the clause `a` must return `Reply`, not `String`"));
        assert!(messages[3].contains("the clause `b` must return `Reply`, but it returns nothing"));
    }

    #[test]
    fn parameters_and_bindings_match_by_name() {
        // A rename is one mistake, reported once at the parameter.
        let renamed = check(
            quote!(),
            quote!(impl A { #[frame(Text(text))] fn a(&mut self, message: String) -> Reply { todo!() } }),
        );
        one(
            &renamed,
            "`a` has a parameter `message`, but its pattern binds `text`",
        );
        assert!(renamed[0].contains("rename it `text`"));

        let unused = check(
            quote!(),
            quote!(impl A { #[frame(Binary(data))] fn a(&mut self) -> Reply { todo!() } }),
        );
        one(
            &unused,
            "`data` is bound by the pattern, but `a` has no parameter `data`",
        );

        let ignored = check(
            quote!(),
            quote!(impl A { #[frame(Binary(_data))] fn a(&mut self) -> Reply { todo!() } }),
        );
        assert!(ignored.is_empty(), "{ignored:?}");

        let two_ctx = check(
            quote!(),
            quote!(impl A { #[frame(Text(_))] fn a(&mut self, c: &mut Ctx<Never>, d: &mut Ctx<Never>) -> Reply { todo!() } }),
        );
        one(&two_ctx, "`a` already takes `ctx`");

        let info = check(
            quote!(info = N),
            quote!(impl A { #[info(N::Say { from, text })] fn a(&mut self, text: String) -> Reply { todo!() } }),
        );
        one(
            &info,
            "`from` is bound by the pattern, but `a` has no parameter `from`",
        );
    }

    #[test]
    fn info_clauses_need_the_info_type() {
        let messages = check(
            quote!(),
            quote! {
                impl A {
                    #[info(Notice::Tick)] fn a(&mut self) -> Reply { todo!() }
                    #[info(Notice::Stop)] fn b(&mut self) -> Reply { todo!() }
                }
            },
        );
        one(&messages, "`#[websocket_handler(info = Notice)]`");
    }

    #[test]
    fn clauses_after_a_catch_all_never_match() {
        let messages = check(
            quote!(info = N),
            quote! {
                impl A {
                    #[frame(Text("a"))] fn a(&mut self) -> Reply { todo!() }
                    #[frame(Text(t) if t.is_empty())] fn b(&mut self, t: &str) -> Reply { todo!() }
                    #[frame(Binary(_))] fn c(&mut self) -> Reply { todo!() }
                    #[frame(Text("a"))] fn d(&mut self) -> Reply { todo!() }
                    #[frame(Text(_))] fn e(&mut self) -> Reply { todo!() }
                    #[frame(Text("b"))] fn f(&mut self) -> Reply { todo!() }
                    #[frame(Binary(b"x"))] fn g(&mut self) -> Reply { todo!() }
                    #[info(N::X if true)] fn h(&mut self) -> Reply { todo!() }
                    #[info(msg)] fn i(&mut self, msg: N) -> Reply { todo!() }
                    #[info(N::Y)] fn j(&mut self) -> Reply { todo!() }
                }
            },
        );
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("`a` above already matches `Text(\"a\")`"));
        assert!(messages[1].contains("`e` above already takes every text message"));
        assert!(messages[2].contains("`c` above already takes every binary message"));
        assert!(messages[3].contains("`i` above already takes every message"));
    }

    #[test]
    fn a_catch_all_under_cfg_does_not_shadow() {
        let messages = check(
            quote!(),
            quote! {
                impl A {
                    #[cfg(feature = "x")] #[frame(Text(_))] fn a(&mut self) -> Reply { todo!() }
                    #[frame(Text(_))] fn b(&mut self) -> Reply { todo!() }
                }
            },
        );
        assert!(messages.is_empty(), "{messages:?}");
    }

    #[test]
    fn types_display_as_written() {
        assert_eq!(display(&syn::parse_quote!(Vec<u8>)), "Vec<u8>");
        assert_eq!(display(&syn::parse_quote!(&'static [u8])), "&'static [u8]");
        assert_eq!(
            display(&syn::parse_quote!(std::string::String)),
            "std::string::String"
        );
    }
}
