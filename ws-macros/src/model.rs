//! The typed model of a handler `impl` block: what `parse` builds, `check`
//! validates and `expand` reads. Nothing here reports errors.

use proc_macro2::TokenStream;
use syn::{Attribute, Expr, Ident, ImplItemFn, ItemImpl, Lit, Pat, Path, ReturnType, Type};

/// The arguments of `#[websocket_handler(..)]`.
#[derive(Default)]
pub(crate) struct Args {
    /// `info = Type`: the messages `#[info]` clauses match.
    pub(crate) info: Option<Type>,
    /// `crate = path`: where the facade is, `::lariat` by default.
    pub(crate) krate: Option<Path>,
    /// Whether the arguments had a mistake (already reported): rules about
    /// a missing argument stay quiet then, as it may be that mistake.
    pub(crate) malformed: bool,
}

/// One handler: the user's impl block and what its methods mean.
pub(crate) struct Handler {
    /// The path of the facade every generated path starts with.
    pub(crate) krate: Path,
    /// The info type, if given.
    pub(crate) info: Option<Type>,
    /// Whether the attribute's arguments had a mistake.
    pub(crate) args_malformed: bool,
    /// The user's impl block with the helper attributes taken off.
    pub(crate) item: ItemImpl,
    /// `init`, `open` and `terminate`, in source order.
    pub(crate) callbacks: Vec<Callback>,
    /// `#[frame]` and `#[info]` clauses, in source order.
    pub(crate) clauses: Vec<Clause>,
}

impl Handler {
    /// The handler type, as written after `impl`.
    pub(crate) fn self_ty(&self) -> &Type {
        &self.item.self_ty
    }

    /// The `#[frame]` clauses, in source order.
    pub(crate) fn frame_clauses(&self) -> impl Iterator<Item = (&Clause, &FramePattern)> {
        self.clauses
            .iter()
            .filter_map(|clause| match &clause.pattern {
                Pattern::Frame(frame) => Some((clause, frame)),
                Pattern::Info(_) => None,
            })
    }

    /// The `#[info]` clauses, in source order.
    pub(crate) fn info_clauses(&self) -> impl Iterator<Item = (&Clause, &InfoPattern)> {
        self.clauses
            .iter()
            .filter_map(|clause| match &clause.pattern {
                Pattern::Info(info) => Some((clause, info)),
                Pattern::Frame(_) => None,
            })
    }

    /// The definitions of one callback (several only under different `#[cfg]`s).
    pub(crate) fn callbacks(&self, kind: CallbackKind) -> impl Iterator<Item = &Callback> {
        self.callbacks.iter().filter(move |c| c.kind == kind)
    }
}

/// A method of the impl block, as far as the macro cares.
pub(crate) struct Method {
    /// The method's name.
    pub(crate) ident: Ident,
    /// Its `#[cfg(..)]` attributes, copied onto what is generated for it.
    pub(crate) cfgs: Vec<Attribute>,
    /// The method itself (signature, for checks and spans).
    pub(crate) item: ImplItemFn,
    /// How it takes `self`.
    pub(crate) receiver: Receiver,
    /// Its parameters after the receiver.
    pub(crate) params: Vec<Param>,
}

impl Method {
    /// Whether the method is an `async fn` (its result is awaited).
    pub(crate) fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some()
    }

    /// The declared return type.
    pub(crate) fn output(&self) -> &ReturnType {
        &self.item.sig.output
    }

    /// The `#[cfg(..)]` predicates of the method.
    pub(crate) fn cfg_predicates(&self) -> Vec<TokenStream> {
        self.cfgs
            .iter()
            .filter_map(|attr| attr.parse_args::<TokenStream>().ok())
            .collect()
    }
}

/// How a method takes `self`.
pub(crate) enum Receiver {
    /// No `self`: an associated function.
    None,
    /// `&self` or `&mut self` (or `self: &mut Self`).
    Ref,
    /// `self`, `mut self`, `self: Box<Self>`: not something the runtime can lend.
    Value(syn::Receiver),
}

/// A parameter after the receiver.
pub(crate) struct Param {
    /// The parameter's name, when its pattern is a plain name (`text`, `mut text`).
    pub(crate) ident: Option<Ident>,
    /// The whole parameter, for spans.
    pub(crate) pat: Pat,
    /// Its declared type.
    pub(crate) ty: Type,
    /// Whether its type is `Ctx<..>` (behind `&mut` or `&`).
    pub(crate) is_ctx: bool,
}

/// The callbacks recognised by name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CallbackKind {
    /// `init(req: &Request) -> Init<Self>`: Cowboy's `init/2`.
    Init,
    /// `open(&mut self[, ctx]) -> Reply`: Cowboy's `websocket_init/1`.
    Open,
    /// `terminate(&mut self, reason: &Terminate)`: Cowboy's `terminate/3`.
    Terminate,
}

impl CallbackKind {
    /// The callback a method name stands for.
    pub(crate) fn from_name(name: &str) -> Option<CallbackKind> {
        match name {
            "init" => Some(CallbackKind::Init),
            "open" => Some(CallbackKind::Open),
            "terminate" => Some(CallbackKind::Terminate),
            _ => None,
        }
    }
}

/// A callback method.
pub(crate) struct Callback {
    /// Which one.
    pub(crate) kind: CallbackKind,
    /// The method.
    pub(crate) method: Method,
}

/// One `#[frame(..)]` or `#[info(..)]` clause and its method.
pub(crate) struct Clause {
    /// The helper attribute, for spans.
    pub(crate) attr: Attribute,
    /// The method the clause calls.
    pub(crate) method: Method,
    /// What it matches.
    pub(crate) pattern: Pattern,
    /// The `if` guard.
    pub(crate) guard: Option<Expr>,
}

impl Clause {
    /// The names the pattern binds, passed to the parameters of the same name.
    pub(crate) fn bindings(&self) -> Vec<&Ident> {
        match &self.pattern {
            Pattern::Frame(frame) => match &frame.arg {
                FrameArg::Binding(ident) => vec![ident],
                FrameArg::Wildcard | FrameArg::Literal(_) => Vec::new(),
            },
            Pattern::Info(info) => info.bindings.iter().collect(),
        }
    }

    /// What each parameter receives, in order.
    pub(crate) fn args(&self) -> Vec<(&Param, Arg<'_>)> {
        let bindings = self.bindings();
        self.method
            .params
            .iter()
            .map(|param| {
                let binding = param
                    .ident
                    .as_ref()
                    .and_then(|ident| bindings.iter().copied().find(|b| *b == ident));
                let arg = match binding {
                    Some(binding) => Arg::Binding(binding),
                    None if param.is_ctx => Arg::Ctx,
                    None => Arg::Unbound,
                };
                (param, arg)
            })
            .collect()
    }

    /// Whether the clause matches everything of its kind: no guard and a
    /// pattern that is a name or `_`.
    pub(crate) fn is_catch_all(&self) -> bool {
        self.guard.is_none()
            && match &self.pattern {
                Pattern::Frame(frame) => !matches!(frame.arg, FrameArg::Literal(_)),
                Pattern::Info(info) => info.is_catch_all(),
            }
    }
}

/// What a parameter of a clause receives.
pub(crate) enum Arg<'a> {
    /// The value the pattern bound under the parameter's name.
    Binding(&'a Ident),
    /// The connection's `Ctx`.
    Ctx,
    /// Nothing: a mistake `check` reports.
    Unbound,
}

/// What a clause matches.
pub(crate) enum Pattern {
    /// A `#[frame(..)]` pattern.
    Frame(FramePattern),
    /// An `#[info(..)]` pattern.
    Info(InfoPattern),
}

/// The frame kinds a pattern can name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FrameKind {
    /// `Text(..)`: a whole text message.
    Text,
    /// `Binary(..)`: a whole binary message.
    Binary,
    /// `Ping(..)`.
    Ping,
    /// `Pong(..)`.
    Pong,
    /// `Close(..)`: the runtime's, rejected by `check`.
    Close,
}

impl FrameKind {
    /// Every kind, in the order messages list them.
    pub(crate) const ALL: [FrameKind; 5] = [
        FrameKind::Text,
        FrameKind::Binary,
        FrameKind::Ping,
        FrameKind::Pong,
        FrameKind::Close,
    ];

    /// The variant name of `Frame`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FrameKind::Text => "Text",
            FrameKind::Binary => "Binary",
            FrameKind::Ping => "Ping",
            FrameKind::Pong => "Pong",
            FrameKind::Close => "Close",
        }
    }

    /// What one frame of this kind is called in messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            FrameKind::Text => "text message",
            FrameKind::Binary => "binary message",
            FrameKind::Ping => "ping",
            FrameKind::Pong => "pong",
            FrameKind::Close => "close frame",
        }
    }

    /// The kind a variant name stands for.
    pub(crate) fn from_name(name: &str) -> Option<FrameKind> {
        FrameKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// A `#[frame(..)]` pattern: a kind and what its payload must be.
pub(crate) struct FramePattern {
    /// The frame kind.
    pub(crate) kind: FrameKind,
    /// The kind as written (`Text`, `Frame::Text`), for spans.
    pub(crate) path: Path,
    /// The payload pattern.
    pub(crate) arg: FrameArg,
}

/// The payload part of a frame pattern.
pub(crate) enum FrameArg {
    /// A name: the payload is passed to the parameter of that name.
    Binding(Ident),
    /// `_` or `..`: any payload, not passed on.
    Wildcard,
    /// A literal the payload must equal.
    Literal(Lit),
}

/// An `#[info(..)]` pattern: any pattern of the info type.
pub(crate) struct InfoPattern {
    /// The pattern, emitted as a `match` arm.
    pub(crate) pat: Pat,
    /// The names it binds.
    pub(crate) bindings: Vec<Ident>,
}

impl InfoPattern {
    /// Whether the pattern matches every message: `_` or a plain name.
    pub(crate) fn is_catch_all(&self) -> bool {
        match &self.pat {
            Pat::Wild(_) => true,
            Pat::Ident(ident) => ident.subpat.is_none() && !self.bindings.is_empty(),
            _ => false,
        }
    }
}
