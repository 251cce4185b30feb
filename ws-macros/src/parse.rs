//! Tokens to the typed model: the attribute's arguments, the impl block, the
//! helper attributes on its methods. Never panics; every malformed piece is
//! reported to the accumulator and left out of the model.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::visit::Visit;
use syn::{
    Attribute, Expr, FnArg, Ident, ImplItem, ImplItemFn, Item, ItemImpl, Pat, Path, Token, Type,
};

use crate::ctxt::Errors;
use crate::model::{
    Args, Callback, CallbackKind, Clause, FrameArg, FrameKind, FramePattern, Handler, InfoPattern,
    Method, Param, Pattern, Receiver,
};

/// What the attribute was put on.
pub(crate) enum Input {
    /// An inherent, non-generic impl block: a handler.
    Handler(Box<Handler>),
    /// Anything else, to be emitted back as it was (with the helper
    /// attributes taken off) next to the errors that say why.
    Other(TokenStream),
}

/// Parses the attribute's arguments and the item it is on.
pub(crate) fn input(args: TokenStream, item: TokenStream, errors: &mut Errors) -> Input {
    let args = self::args(args, errors);
    let item = match syn::parse2::<Item>(item.clone()) {
        Ok(item) => item,
        Err(error) => {
            errors.push(error);
            return Input::Other(item);
        }
    };
    let mut imp = match item {
        Item::Impl(imp) => imp,
        other => {
            not_an_impl(&other, errors);
            return Input::Other(other.into_token_stream());
        }
    };
    let name = type_name(&imp.self_ty);
    if let Some((_, path, for_token)) = &imp.trait_ {
        errors.spanned(
            quote!(#path #for_token),
            format!(
                "`#[websocket_handler]` goes on an inherent `impl {name} {{ .. }}` block, not on a trait impl\n\
                 = help: write the clauses in `impl {name} {{ .. }}` and the macro implements `Handler` for you, \
                 or remove `#[websocket_handler]` to keep this hand-written impl"
            ),
        );
        strip_all(&mut imp);
        return Input::Other(imp.into_token_stream());
    }
    if !imp.generics.params.is_empty() || imp.generics.where_clause.is_some() {
        let generics = &imp.generics;
        let where_clause = &generics.where_clause;
        errors.spanned(
            quote!(#generics #where_clause),
            format!(
                "generic handlers are not supported: `#[websocket_handler]` needs one concrete type\n\
                 = help: write the impl for a concrete type (`impl {name} {{ .. }}`), \
                 or implement `lariat::Handler` by hand for a generic one"
            ),
        );
        strip_all(&mut imp);
        return Input::Other(imp.into_token_stream());
    }
    let krate = args.krate.unwrap_or_else(|| syn::parse_quote!(::lariat));
    let mut handler = Handler {
        krate,
        info: args.info,
        args_malformed: args.malformed,
        item: imp,
        callbacks: Vec::new(),
        clauses: Vec::new(),
    };
    methods(&mut handler, errors);
    Input::Handler(Box::new(handler))
}

/// `info = Type, crate = path`, in any order, each at most once.
pub(crate) fn args(tokens: TokenStream, errors: &mut Errors) -> Args {
    let before = errors.len();
    let mut args = Args::default();
    let parser = |input: ParseStream<'_>| {
        if let Err(error) = parse_args(input, &mut args, errors) {
            errors.push(error);
            skip_rest(input);
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(tokens) {
        errors.push(error);
    }
    args.malformed = errors.len() > before;
    args
}

fn parse_args(input: ParseStream<'_>, args: &mut Args, errors: &mut Errors) -> syn::Result<()> {
    while !input.is_empty() {
        let key = input.call(Ident::parse_any).map_err(|error| {
            syn::Error::new(error.span(), "expected `info = Type` or `crate = path`")
        })?;
        let known = matches!(key.to_string().as_str(), "info" | "crate");
        if !known {
            let name = key.to_string();
            let suggestion = ["info", "crate"]
                .into_iter()
                .find(|known| edit_distance(known, &name) <= 2)
                .map(|known| format!("\n= help: did you mean `{known}`?"))
                .unwrap_or_default();
            errors.spanned(
                &key,
                format!(
                    "unknown argument `{key}`: `#[websocket_handler]` takes `info = Type` (the messages `#[info]` clauses match) and `crate = path` (where `lariat` is){suggestion}"
                ),
            );
        }
        if !input.peek(Token![=]) {
            if known {
                let example = if key == "info" {
                    "info = Notice"
                } else {
                    "crate = ::lariat"
                };
                return Err(syn::Error::new(
                    key.span(),
                    format!("`{key}` needs a value: write `{example}`"),
                ));
            }
            skip_to_comma(input);
        } else {
            input.parse::<Token![=]>()?;
            if key == "info" {
                let ty: Type = input.parse()?;
                if args.info.is_some() {
                    errors.spanned(&key, "`info` is given twice: keep one `info = Type`");
                } else {
                    args.info = Some(ty);
                }
            } else if key == "crate" {
                let path = input.call(Path::parse_mod_style)?;
                if args.krate.is_some() {
                    errors.spanned(&key, "`crate` is given twice: keep one `crate = path`");
                } else {
                    args.krate = Some(path);
                }
            } else {
                skip_to_comma(input);
            }
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

fn skip_to_comma(input: ParseStream<'_>) {
    while !input.is_empty() && !input.peek(Token![,]) {
        if input.parse::<proc_macro2::TokenTree>().is_err() {
            return;
        }
    }
}

fn skip_rest(input: ParseStream<'_>) {
    while !input.is_empty() {
        if input.parse::<proc_macro2::TokenTree>().is_err() {
            return;
        }
    }
}

/// The attribute on something other than an impl block.
fn not_an_impl(item: &Item, errors: &mut Errors) {
    let (what, name, tokens) = match item {
        Item::Struct(s) => ("a struct", Some(&s.ident), {
            let struct_token = &s.struct_token;
            let ident = &s.ident;
            quote!(#struct_token #ident)
        }),
        Item::Enum(e) => ("an enum", Some(&e.ident), {
            let enum_token = &e.enum_token;
            let ident = &e.ident;
            quote!(#enum_token #ident)
        }),
        Item::Fn(f) => ("a function", None, {
            let fn_token = &f.sig.fn_token;
            let ident = &f.sig.ident;
            quote!(#fn_token #ident)
        }),
        Item::Trait(t) => ("a trait", None, {
            let trait_token = &t.trait_token;
            let ident = &t.ident;
            quote!(#trait_token #ident)
        }),
        Item::Mod(m) => ("a module", None, {
            let mod_token = &m.mod_token;
            let ident = &m.ident;
            quote!(#mod_token #ident)
        }),
        other => ("this item", None, other.to_token_stream()),
    };
    let example = match name {
        Some(name) => format!("impl {name} {{ .. }}"),
        None => "impl Chat { .. }".to_owned(),
    };
    errors.spanned(
        tokens,
        format!(
            "`#[websocket_handler]` goes on the `impl` block of a handler, not on {what}\n\
             = help: move it to the block that holds the clauses: `#[websocket_handler] {example}`"
        ),
    );
}

/// The name of the handler type for messages: the last path segment.
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| "Self".to_owned(), |s| s.ident.unraw().to_string()),
        other => other.to_token_stream().to_string(),
    }
}

/// Whether an attribute is one of the macro's helpers.
fn is_helper(attr: &Attribute) -> bool {
    attr.path().is_ident("frame") || attr.path().is_ident("info")
}

/// Takes the helper attributes off every item (on an impl the macro will not
/// generate for, so rustc does not also complain about unknown attributes).
fn strip_all(imp: &mut ItemImpl) {
    for item in &mut imp.items {
        if let Some(attrs) = item_attrs(item) {
            attrs.retain(|attr| !is_helper(attr));
        }
    }
}

fn item_attrs(item: &mut ImplItem) -> Option<&mut Vec<Attribute>> {
    match item {
        ImplItem::Fn(f) => Some(&mut f.attrs),
        ImplItem::Const(c) => Some(&mut c.attrs),
        ImplItem::Type(t) => Some(&mut t.attrs),
        ImplItem::Macro(m) => Some(&mut m.attrs),
        _ => None,
    }
}

/// Sorts the methods into callbacks, clauses and ordinary methods, taking
/// the helper attributes off.
fn methods(handler: &mut Handler, errors: &mut Errors) {
    for item in &mut handler.item.items {
        let ImplItem::Fn(f) = item else {
            if let Some(attrs) = item_attrs(item) {
                for attr in attrs.iter().filter(|a| is_helper(a)) {
                    errors.spanned(
                        attr,
                        format!(
                            "`#[{}]` goes on a method: a clause is a `fn` that handles what its pattern matches",
                            helper_name(attr)
                        ),
                    );
                }
                attrs.retain(|attr| !is_helper(attr));
            }
            continue;
        };
        let (helpers, rest): (Vec<Attribute>, Vec<Attribute>) =
            f.attrs.drain(..).partition(is_helper);
        f.attrs = rest;
        let name = f.sig.ident.unraw().to_string();
        let callback = CallbackKind::from_name(&name);
        let mut helpers = helpers.into_iter();
        let first = helpers.next();
        for extra in helpers {
            errors.spanned(
                &extra,
                format!(
                    "`{name}` already has a clause attribute; a method is one clause\n\
                     = help: write another method for this pattern"
                ),
            );
        }
        let method = method(f);
        match (callback, first) {
            (Some(kind), None) => handler.callbacks.push(Callback { kind, method }),
            (Some(_), Some(attr)) => errors.spanned(
                &attr,
                format!(
                    "`{name}` is a callback the macro recognises by name, so it cannot also be a clause\n\
                     = help: rename the method, e.g. `on_{name}`"
                ),
            ),
            (None, Some(attr)) => {
                if let Some(clause) = clause(attr, method, errors) {
                    handler.clauses.push(clause);
                }
            }
            (None, None) => {}
        }
    }
}

fn helper_name(attr: &Attribute) -> &'static str {
    if attr.path().is_ident("frame") {
        "frame"
    } else {
        "info"
    }
}

/// The parts of a method the macro reads.
fn method(f: &ImplItemFn) -> Method {
    let cfgs = f
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .cloned()
        .collect();
    let mut receiver = Receiver::None;
    let mut params = Vec::new();
    for input in &f.sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                receiver = if matches!(*r.ty, Type::Reference(_)) {
                    Receiver::Ref
                } else {
                    Receiver::Value(r.clone())
                };
            }
            FnArg::Typed(typed) => {
                let ident = match &*typed.pat {
                    Pat::Ident(pat) if pat.subpat.is_none() => Some(pat.ident.clone()),
                    _ => None,
                };
                params.push(Param {
                    ident,
                    pat: (*typed.pat).clone(),
                    ty: (*typed.ty).clone(),
                    is_ctx: is_ctx(&typed.ty),
                });
            }
        }
    }
    Method {
        ident: f.sig.ident.clone(),
        cfgs,
        item: f.clone(),
        receiver,
        params,
    }
}

/// Whether a parameter type is the connection's `Ctx<..>` (by `&mut`, `&`
/// or, mistakenly, by value: the call then reports the mismatch).
pub(crate) fn is_ctx(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_ctx(&r.elem),
        Type::Paren(p) => is_ctx(&p.elem),
        Type::Group(g) => is_ctx(&g.elem),
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Ctx")
        }
        _ => false,
    }
}

/// A `#[frame(..)]` or `#[info(..)]` attribute and its method.
fn clause(attr: Attribute, method: Method, errors: &mut Errors) -> Option<Clause> {
    let is_frame = attr.path().is_ident("frame");
    let list = match &attr.meta {
        syn::Meta::List(list) => list,
        _ => {
            let example = if is_frame {
                "#[frame(Text(text))]"
            } else {
                "#[info(Notice::Tick)]"
            };
            errors.spanned(
                &attr,
                format!(
                    "`#[{}]` needs a pattern in parentheses, e.g. `{example}`",
                    helper_name(&attr)
                ),
            );
            return None;
        }
    };
    let parsed = list.parse_args_with(|input: ParseStream<'_>| {
        let pat = Pat::parse_multi_with_leading_vert(input)?;
        let guard = if input.peek(Token![if]) {
            let if_token = input.parse::<Token![if]>()?;
            if input.is_empty() {
                return Err(syn::Error::new(
                    if_token.span,
                    "this `if` has no condition: write the guard after it, e.g. `if text.len() < 100`, or remove the `if`",
                ));
            }
            Some(input.parse::<Expr>()?)
        } else {
            None
        };
        Ok((pat, guard))
    });
    let (pat, guard) = match parsed {
        Ok(parsed) => parsed,
        Err(error) if error.to_string().starts_with("this `if`") => {
            errors.push(error);
            return None;
        }
        Err(error) => {
            let help = if is_frame {
                "a `#[frame]` pattern is `Text(..)`, `Binary(..)`, `Ping(..)` or `Pong(..)` holding a name, `_` or a literal, with an optional `if` guard"
            } else {
                "an `#[info]` pattern is a pattern of the info type, with an optional `if` guard"
            };
            errors.at(error.span(), format!("{error}\n= help: {help}"));
            return None;
        }
    };
    let pattern = if is_frame {
        Pattern::Frame(frame_pattern(&pat, errors)?)
    } else {
        Pattern::Info(InfoPattern {
            bindings: bindings(&pat),
            pat,
        })
    };
    Some(Clause {
        attr,
        method,
        pattern,
        guard,
    })
}

const FRAME_KINDS: &str = "`Text(..)`, `Binary(..)`, `Ping(..)` or `Pong(..)`";

/// `Text(text)`, `Binary(_)`, `Ping(b"..")`, `Frame::Pong(..)`.
pub(crate) fn frame_pattern(pat: &Pat, errors: &mut Errors) -> Option<FramePattern> {
    match pat {
        Pat::TupleStruct(tuple) => {
            let kind = frame_kind(&tuple.path, errors)?;
            let mut elems = tuple.elems.iter();
            let (Some(elem), None) = (elems.next(), elems.next()) else {
                errors.spanned(
                    pat,
                    format!(
                        "`{}(..)` holds one pattern: a name (`{}(payload)`), `_`, or a literal",
                        kind.name(),
                        kind.name()
                    ),
                );
                return None;
            };
            let arg = frame_arg(kind, elem, errors)?;
            Some(FramePattern {
                kind,
                path: tuple.path.clone(),
                arg,
            })
        }
        Pat::Ident(ident) if ident.subpat.is_none() => {
            bare_kind(&ident.ident.unraw().to_string(), pat, errors);
            None
        }
        Pat::Path(path) if path.qself.is_none() => {
            let name = path
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default();
            bare_kind(&name, pat, errors);
            None
        }
        Pat::Or(_) => {
            errors.spanned(
                pat,
                "a `#[frame]` clause has one pattern\n\
                 = help: write one clause per pattern, or one clause with a guard: `#[frame(Text(cmd) if cmd == \"a\" || cmd == \"b\")]`",
            );
            None
        }
        _ => {
            errors.spanned(
                pat,
                format!(
                    "a `#[frame]` pattern is {FRAME_KINDS}, holding a name, `_` or a literal, e.g. `#[frame(Text(text))]`"
                ),
            );
            None
        }
    }
}

/// `Ping` or `text` without parentheses.
fn bare_kind(name: &str, pat: &Pat, errors: &mut Errors) {
    let message = match FrameKind::from_name(name) {
        Some(kind) => format!(
            "write `{0}(_)` to match every {1}, or `{0}(payload)` to receive its payload",
            kind.name(),
            kind.noun()
        ),
        None => format!(
            "a `#[frame]` pattern names the frame kind: {FRAME_KINDS}, e.g. `#[frame(Text(text))]`"
        ),
    };
    errors.spanned(pat, message);
}

/// The kind a pattern path names: `Text` or `Frame::Text` (any path ending
/// in `Frame::Text`).
fn frame_kind(path: &Path, errors: &mut Errors) -> Option<FrameKind> {
    let mut segments = path.segments.iter().rev();
    let last = segments.next()?;
    let qualifier_ok = segments.next().is_none_or(|s| s.ident == "Frame");
    let name = last.ident.unraw().to_string();
    match FrameKind::from_name(&name) {
        Some(kind) if qualifier_ok && last.arguments.is_none() => Some(kind),
        _ => {
            let suggestion = FrameKind::ALL
                .into_iter()
                .filter(|kind| *kind != FrameKind::Close)
                .map(|kind| {
                    let (kind_name, name) = (kind.name().to_lowercase(), name.to_lowercase());
                    let prefix = name.len() >= 2 && kind_name.starts_with(&name);
                    (kind, !prefix, edit_distance(&kind_name, &name), prefix)
                })
                .filter(|(_, _, distance, prefix)| *prefix || *distance <= 2)
                .min_by_key(|(_, not_prefix, distance, _)| (*not_prefix, *distance))
                .map(|(kind, ..)| kind)
                .map(|kind| format!("\n= help: did you mean `{}`?", kind.name()))
                .unwrap_or_default();
            errors.spanned(
                path,
                format!(
                    "unknown frame kind `{}`: a `#[frame]` clause matches {FRAME_KINDS}{suggestion}",
                    path.to_token_stream().to_string().replace(' ', "")
                ),
            );
            None
        }
    }
}

/// Levenshtein distance, for "did you mean" on short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous
                .get(j)
                .map_or(usize::MAX, |d| d + usize::from(ca != *cb));
            let insert = current.get(j).map_or(usize::MAX, |d| d + 1);
            let delete = previous.get(j + 1).map_or(usize::MAX, |d| d + 1);
            current.push(substitute.min(insert).min(delete));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or_default()
}

/// The payload pattern inside `Text(..)`.
fn frame_arg(kind: FrameKind, elem: &Pat, errors: &mut Errors) -> Option<FrameArg> {
    match elem {
        Pat::Ident(ident)
            if ident.by_ref.is_none() && ident.mutability.is_none() && ident.subpat.is_none() =>
        {
            Some(FrameArg::Binding(ident.ident.clone()))
        }
        Pat::Ident(ident) => {
            let name = &ident.ident;
            errors.spanned(
                elem,
                format!(
                    "write just the name `{name}`: the parameter `{name}` decides its type and whether it is `mut`"
                ),
            );
            None
        }
        Pat::Wild(_) | Pat::Rest(_) => Some(FrameArg::Wildcard),
        Pat::Lit(lit) => Some(FrameArg::Literal(lit.lit.clone())),
        _ => {
            let literal = match kind {
                FrameKind::Text => "\"ping\"",
                _ => "b\"\\x01\"",
            };
            errors.spanned(
                elem,
                format!(
                    "`{}(..)` holds a name, `_` or a literal such as `{literal}`; use a guard for anything else: `#[frame({}(payload) if ..)]`",
                    kind.name(),
                    kind.name()
                ),
            );
            None
        }
    }
}

/// The names an info pattern binds. An identifier that starts with an
/// uppercase letter is taken for a unit variant or constant (`Tick`), as
/// rustc's naming conventions have it, unless `ref`, `mut` or `@` make it a
/// binding.
pub(crate) fn bindings(pat: &Pat) -> Vec<Ident> {
    struct Bindings(Vec<Ident>);
    impl<'ast> Visit<'ast> for Bindings {
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            let name = pat.ident.unraw().to_string();
            let lowercase = name.starts_with(|c: char| c.is_lowercase() || c == '_');
            if lowercase || pat.by_ref.is_some() || pat.mutability.is_some() || pat.subpat.is_some()
            {
                self.0.push(pat.ident.clone());
            }
            syn::visit::visit_pat_ident(self, pat);
        }
        // Expressions inside patterns (range bounds, consts) bind nothing.
        fn visit_expr(&mut self, _: &'ast Expr) {}
    }
    let mut found = Bindings(Vec::new());
    found.visit_pat(pat);
    found.0
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unreachable)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse_quote;

    fn parse(args: TokenStream, item: TokenStream) -> (Input, Errors) {
        let mut errors = Errors::default();
        let input = input(args, item, &mut errors);
        (input, errors)
    }

    fn handler(args: TokenStream, item: TokenStream) -> (Handler, Errors) {
        match parse(args, item) {
            (Input::Handler(handler), errors) => (*handler, errors),
            (Input::Other(_), errors) => {
                unreachable!("not a handler: {:?}", errors.messages())
            }
        }
    }

    fn frame(pat: Pat) -> (Option<FramePattern>, Errors) {
        let mut errors = Errors::default();
        (frame_pattern(&pat, &mut errors), errors)
    }

    #[test]
    fn arguments_in_any_order_with_a_trailing_comma() {
        let mut errors = Errors::default();
        let args = args(quote!(crate = ::my::lariat, info = Notice,), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.messages());
        assert_eq!(args.info, Some(parse_quote!(Notice)));
        assert_eq!(args.krate, Some(parse_quote!(::my::lariat)));
        let empty = self::args(TokenStream::new(), &mut errors);
        assert!(empty.info.is_none() && empty.krate.is_none() && errors.is_empty());
    }

    #[test]
    fn info_takes_any_type() {
        let mut errors = Errors::default();
        let args = args(quote!(info = Result<u8, String>), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.messages());
        assert_eq!(args.info, Some(parse_quote!(Result<u8, String>)));
    }

    #[test]
    fn unknown_and_duplicate_arguments_are_each_reported() {
        let mut errors = Errors::default();
        let args = args(
            quote!(message = String, info = A, info = B, crate = x, crate = y),
            &mut errors,
        );
        let messages = errors.messages();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("unknown argument `message`"));
        assert!(messages[1].starts_with("`info` is given twice"));
        assert!(messages[2].starts_with("`crate` is given twice"));
        // The first of a duplicate is kept.
        assert_eq!(args.info, Some(parse_quote!(A)));
    }

    #[test]
    fn an_argument_without_a_value_says_how_to_write_it() {
        let mut errors = Errors::default();
        let _ = args(quote!(info), &mut errors);
        assert_eq!(
            errors.messages(),
            ["`info` needs a value: write `info = Notice`"]
        );
        let mut errors = Errors::default();
        let _ = args(quote!("info"), &mut errors);
        assert_eq!(
            errors.messages(),
            ["expected `info = Type` or `crate = path`"]
        );
    }

    #[test]
    fn frame_patterns() {
        let (p, e) = frame(parse_quote!(Text(text)));
        assert!(e.is_empty());
        let p = p.unwrap_or_else(|| unreachable!());
        assert_eq!(p.kind, FrameKind::Text);
        assert!(matches!(&p.arg, FrameArg::Binding(b) if b == "text"));

        for (pat, kind) in [
            (parse_quote!(Binary(_)), FrameKind::Binary),
            (parse_quote!(Frame::Ping(..)), FrameKind::Ping),
            (parse_quote!(lariat::Frame::Pong(_)), FrameKind::Pong),
        ] {
            let (p, e) = frame(pat);
            assert!(e.is_empty(), "{:?}", e.messages());
            let p = p.unwrap_or_else(|| unreachable!());
            assert_eq!(p.kind, kind);
            assert!(matches!(p.arg, FrameArg::Wildcard));
        }

        let (p, e) = frame(parse_quote!(Text("/quit")));
        assert!(e.is_empty());
        assert!(matches!(
            p.map(|p| p.arg),
            Some(FrameArg::Literal(syn::Lit::Str(_)))
        ));

        // `Close` parses; `check` rejects it with its own message.
        let (p, e) = frame(parse_quote!(Close(_)));
        assert!(e.is_empty());
        assert_eq!(p.map(|p| p.kind), Some(FrameKind::Close));
    }

    #[test]
    fn malformed_frame_patterns_are_reported() {
        let cases: [(Pat, &str); 8] = [
            (parse_quote!(Txt(t)), "unknown frame kind `Txt`"),
            (parse_quote!(text(t)), "did you mean `Text`?"),
            (
                parse_quote!(Message::Text(t)),
                "unknown frame kind `Message::Text`",
            ),
            (parse_quote!(Ping), "write `Ping(_)` to match every ping"),
            (
                parse_quote!(message),
                "a `#[frame]` pattern names the frame kind",
            ),
            (
                parse_quote!(Text("a") | Text("b")),
                "a `#[frame]` clause has one pattern",
            ),
            (parse_quote!(Text(mut t)), "write just the name `t`"),
            (parse_quote!(Binary(a, b)), "`Binary(..)` holds one pattern"),
        ];
        for (pat, expected) in cases {
            let (p, e) = frame(pat);
            assert!(p.is_none());
            let messages = e.messages();
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert!(
                messages[0].contains(expected),
                "{messages:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn info_bindings_are_lowercase_names() {
        let names =
            |pat: Pat| -> Vec<String> { bindings(&pat).iter().map(ToString::to_string).collect() };
        assert_eq!(
            names(parse_quote!(Notice::Said { from, text })),
            ["from", "text"]
        );
        assert_eq!(names(parse_quote!(Notice::Said { from: who, .. })), ["who"]);
        assert_eq!(names(parse_quote!(Notice::Tick)), Vec::<String>::new());
        assert_eq!(names(parse_quote!(Tick)), Vec::<String>::new());
        assert_eq!(names(parse_quote!(Kick(code))), ["code"]);
        assert_eq!(names(parse_quote!(all @ Notice::Kick(_))), ["all"]);
        assert_eq!(names(parse_quote!(Count(0..=MAX))), Vec::<String>::new());
        assert_eq!(names(parse_quote!(_)), Vec::<String>::new());
        assert_eq!(names(parse_quote!(msg)), ["msg"]);
    }

    #[test]
    fn methods_are_sorted_and_helper_attributes_removed() {
        let (handler, errors) = handler(
            quote!(info = Notice),
            quote! {
                impl Chat {
                    async fn init(req: &Request) -> Init<Self> { todo!() }
                    #[frame(Text(text))]
                    #[cfg(feature = "x")]
                    fn say(&mut self, text: String, ctx: &mut Ctx<Notice>) -> Reply { todo!() }
                    #[info(Notice::Tick)]
                    fn tick(&mut self) -> Reply { todo!() }
                    fn helper(&self) {}
                    fn terminate(&mut self, reason: &Terminate) {}
                }
            },
        );
        assert!(errors.is_empty(), "{:?}", errors.messages());
        let kinds: Vec<CallbackKind> = handler.callbacks.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [CallbackKind::Init, CallbackKind::Terminate]);
        assert_eq!(handler.clauses.len(), 2);
        let say = &handler.clauses[0];
        assert_eq!(say.method.ident, "say");
        assert_eq!(say.method.cfgs.len(), 1);
        assert!(!say.method.params[0].is_ctx && say.method.params[1].is_ctx);
        assert!(matches!(say.pattern, Pattern::Frame(_)));
        assert!(matches!(handler.clauses[1].pattern, Pattern::Info(_)));
        let emitted = handler.item.to_token_stream().to_string();
        assert!(
            !emitted.contains("frame") && !emitted.contains("info ("),
            "{emitted}"
        );
        assert!(emitted.contains("cfg"));
    }

    #[test]
    fn a_method_is_one_clause_and_callbacks_are_no_clauses() {
        let (handler, errors) = handler(
            TokenStream::new(),
            quote! {
                impl Echo {
                    #[frame(Text(_))]
                    #[frame(Binary(_))]
                    fn refuse(&mut self) -> Reply { todo!() }
                    #[frame(Text(_))]
                    fn open(&mut self) -> Reply { todo!() }
                    #[info]
                    fn bare(&mut self) -> Reply { todo!() }
                }
            },
        );
        let messages = errors.messages();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("`refuse` already has a clause attribute"));
        assert!(messages[1].starts_with("`open` is a callback"));
        assert!(messages[2].starts_with("`#[info]` needs a pattern"));
        assert_eq!(handler.clauses.len(), 1);
    }

    #[test]
    fn not_an_inherent_concrete_impl() {
        let cases = [
            (quote!(impl Handler for Echo {}), "not on a trait impl"),
            (
                quote!(
                    struct Chat;
                ),
                "not on a struct",
            ),
            (
                quote!(
                    fn say() {}
                ),
                "not on a function",
            ),
            (
                quote!(
                    impl<T> Echo<T> {}
                ),
                "generic handlers are not supported",
            ),
            (
                quote!(impl Echo where Echo: Send {}),
                "generic handlers are not supported",
            ),
        ];
        for (item, expected) in cases {
            let (input, errors) = parse(TokenStream::new(), item);
            assert!(matches!(input, Input::Other(_)));
            let messages = errors.messages();
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert!(
                messages[0].contains(expected),
                "{messages:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn near_misses_of_a_kind_get_a_suggestion() {
        assert_eq!(edit_distance("text", "txt"), 1);
        assert_eq!(edit_distance("binary", "bianry"), 2);
        assert_eq!(edit_distance("ping", "pong"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        for (pat, expected) in [
            (parse_quote!(Txt(t)), "did you mean `Text`?"),
            (parse_quote!(Bin(t)), "did you mean `Binary`?"),
            (parse_quote!(Message(t)), "matches `Text(..)`"),
        ] {
            let (_, e) = frame(pat);
            let messages = e.messages();
            assert!(
                messages[0].contains(expected),
                "{messages:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn ctx_is_recognised_by_type() {
        assert!(is_ctx(&parse_quote!(&mut Ctx<Notice>)));
        assert!(is_ctx(&parse_quote!(&lariat::Ctx<Notice>)));
        assert!(!is_ctx(&parse_quote!(&mut Context)));
        assert!(!is_ctx(&parse_quote!(String)));
    }
}
