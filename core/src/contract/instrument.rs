//! Gas charges at every function entry, inserted into the source before it is compiled. Boa's
//! step count sees only code its top-level loop runs, not functions called back from native
//! code (getters, setters, `valueOf`/`toString` in coercions): a host call at the start of every
//! function body counts each call whoever makes it, and Boa bounds each call's loops together
//! (`Limits::max_loop_iterations`), so the work outside the step count is bounded too.
//!
//! The same pass bounds string growth, which Boa does not limit (a string doubled by `+` thirty
//! times is 2 GiB): every `+`, `+=` and template literal is wrapped in a host check of its
//! result's length ([`STR_FN`]). Every string a contract makes thus stays within
//! `Limits::max_string` (the prelude bounds the builtins that build strings), so one operation
//! allocates at most a bounded multiple of it before the check refuses it, at the same
//! operation on every node (`contract.memory`).

use super::receipt::Failure;
use boa_ast::expression::literal::{TemplateElement, TemplateLiteral};
use boa_ast::expression::operator::assign::AssignOp;
use boa_ast::expression::operator::binary::{ArithmeticOp, BinaryOp};
use boa_ast::expression::operator::{Assign, Binary};
use boa_ast::expression::Expression;
use boa_ast::function::FunctionBody;
use boa_ast::visitor::{VisitWith, Visitor};
use boa_ast::Spanned;
use boa_interner::Interner;
use boa_parser::{Parser, Source};
use std::convert::Infallible;
use std::ops::ControlFlow;

/// The host function charged at each function entry. Code naming it is refused.
pub const GAS_FN: &str = "__miniledger_gas";
/// The host function every string-building expression's result passes through.
pub const STR_FN: &str = "__miniledger_str";
/// Substitutions in one template literal: its parts are each within the string limit, so this
/// bounds what one template allocates before its result is checked.
pub const MAX_TEMPLATE_PARTS: usize = 16;

/// Lexical units in a contract's source: runs of identifier characters and single other
/// characters, whitespace left out. Bounds chains that nest without brackets (`!!!…`, `a.b.c…`,
/// `if (x) if (y) …`), each unit at most a level of Boa's parser.
pub const MAX_SOURCE_UNITS: usize = 8_192;
/// Nesting weight of a contract's source: `(`, `[`, `{` count one, `=>` and a backtick two and
/// `+` three (the levels `instrument` wraps around each). Boa's parser recurses at every
/// nesting level, using 10-40 KB of stack and time that grows faster than the depth (4,096
/// nested parentheses: 1.7 s; a 4,096-term `+` chain, once instrumented: 103 s and a stack
/// overflow at 64 MiB); nothing in the language bounds it. The example contracts weigh 75 and
/// 103. Both counts read every character, strings and comments included, so nothing in the
/// source can hide nesting from them (a string's brackets count too).
pub const MAX_NESTING_WEIGHT: usize = 1_024;

/// Refuses source whose nesting could exhaust the parser's stack or time (see
/// [`MAX_NESTING_WEIGHT`]), before anything parses it.
fn check_nesting(source: &str) -> Result<(), Failure> {
    let mut units = 0;
    let mut weight = 0;
    let mut in_word = false;
    let mut previous = ' ';
    for c in source.chars() {
        let word = c.is_alphanumeric() || c == '_' || c == '$';
        // A unit starts at every character but whitespace and an identifier's continuation.
        let continues_word = word && in_word;
        if !(c.is_whitespace() || continues_word) {
            units += 1;
        }
        in_word = word;
        weight += match c {
            '(' | '[' | '{' => 1,
            '`' => 2,
            '>' if previous == '=' => 2,
            '+' => 3,
            _ => 0,
        };
        previous = c;
    }
    if units > MAX_SOURCE_UNITS {
        return Err(Failure::Compile(format!(
            "source too long: {units} lexical units, at most {MAX_SOURCE_UNITS}"
        )));
    }
    if weight > MAX_NESTING_WEIGHT {
        return Err(Failure::Compile(format!(
            "source too complex: nesting weight {weight} (brackets, +, => and templates), at most {MAX_NESTING_WEIGHT}"
        )));
    }
    Ok(())
}

/// (line, column) of a body's first and one-past-last character, 1-based, columns in chars.
type Span = ((u32, u32), (u32, u32));

#[derive(Default)]
struct Found {
    /// Each function body's span and its expressions' extent (see [`Extent`]).
    bodies: Vec<(Span, Span)>,
    /// `+`, `+=` and template literals: their results are checked.
    strings: Vec<Span>,
    /// The most substitutions in one template literal.
    template_parts: usize,
}

fn span_of(span: boa_ast::Span) -> Span {
    let (start, end) = (span.start(), span.end());
    (
        (start.line_number(), start.column_number()),
        (end.line_number(), end.column_number()),
    )
}

/// The source extent of an expression: Boa 0.21 starts some spans late (a binary expression
/// whose left operand is a method call, `'x'.repeat(3) + 'y'`, starts at `repeat`), so the
/// extent is taken over every expression inside it too.
struct Extent(Span);

impl<'ast> Visitor<'ast> for Extent {
    type BreakTy = Infallible;

    fn visit_expression(&mut self, node: &'ast Expression) -> ControlFlow<Infallible> {
        let (start, end) = span_of(node.span());
        self.0 = (self.0 .0.min(start), self.0 .1.max(end));
        node.visit_with(self)
    }
}

fn extent<N: Spanned + VisitWith>(node: &N) -> Span {
    let mut extent = Extent(span_of(node.span()));
    let _ = node.visit_with(&mut extent);
    extent.0
}

impl<'ast> Visitor<'ast> for Found {
    type BreakTy = Infallible;

    fn visit_function_body(&mut self, node: &'ast FunctionBody) -> ControlFlow<Infallible> {
        self.bodies.push((span_of(node.span()), extent(node)));
        node.visit_with(self)
    }

    fn visit_binary(&mut self, node: &'ast Binary) -> ControlFlow<Infallible> {
        if node.op() == BinaryOp::Arithmetic(ArithmeticOp::Add) {
            self.strings.push(extent(node));
        }
        node.visit_with(self)
    }

    fn visit_assign(&mut self, node: &'ast Assign) -> ControlFlow<Infallible> {
        if node.op() == AssignOp::Add {
            self.strings.push(extent(node));
        }
        node.visit_with(self)
    }

    fn visit_template_literal(&mut self, node: &'ast TemplateLiteral) -> ControlFlow<Infallible> {
        self.strings.push(extent(node));
        let parts = node
            .elements()
            .iter()
            .filter(|e| matches!(e, TemplateElement::Expr(_)))
            .count();
        self.template_parts = self.template_parts.max(parts);
        node.visit_with(self)
    }
}

/// Rewrites a function body's source so every nested function charges [`GAS_FN`] on entry:
/// `{ … }` bodies get `GAS_FN();` after the brace, expression bodies of arrows become
/// `(GAS_FN(), expression)`; the body itself is charged by its caller. Every `+`, `+=` and
/// template literal `e` becomes `STR_FN((e))`.
pub fn instrument(body: &str) -> Result<String, Failure> {
    // Positions count lines by `\n` only; other line terminators would shift them.
    if body.contains(['\r', '\u{2028}', '\u{2029}']) {
        return Err(Failure::Compile(
            "line terminators other than \\n are not supported".into(),
        ));
    }
    check_nesting(body)?;
    let mut interner = Interner::default();
    let parsed = Parser::new(Source::from_bytes(body))
        .parse_function_body(&mut interner, false, false)
        .map_err(|e| Failure::Compile(e.to_string()))?;
    for reserved in [GAS_FN, STR_FN] {
        if interner.get(reserved).is_some() {
            return Err(Failure::Compile(format!("{reserved} is reserved")));
        }
    }
    let mut found = Found::default();
    let _ = parsed.visit_with(&mut found);
    if found.template_parts > MAX_TEMPLATE_PARTS {
        return Err(Failure::Compile(format!(
            "a template literal may have at most {MAX_TEMPLATE_PARTS} substitutions"
        )));
    }

    let lines: Vec<usize> = std::iter::once(0)
        .chain(body.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |(line, column): (u32, u32)| -> Option<usize> {
        let start = *lines.get(line.checked_sub(1)? as usize)?;
        let rest = &body[start..];
        let skip = column.checked_sub(1)? as usize;
        match rest.char_indices().nth(skip) {
            Some((i, _)) => Some(start + i),
            None if rest.chars().count() == skip => Some(body.len()),
            None => None,
        }
    };
    let charge = format!("{GAS_FN}();");
    // (offset, rank, text). Openers sharing an offset nest by their ends: the one ending first
    // is inserted first and so ends up innermost (each insert goes before earlier ones at its
    // offset); a body's charge is leftmost. Closers are all ")", so their order is moot.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let unplaceable = || Failure::Compile("cannot place gas charges".into());
    for ((start, _), (expr_start, expr_end)) in found.bodies {
        let Some(s) = offset(start) else {
            return Err(unplaceable());
        };
        if body[s..].starts_with('{') {
            edits.push((s + 1, usize::MAX, charge.clone()));
        } else {
            // An arrow's expression body: its extent (its span may start late).
            let (Some(s), Some(e)) = (offset(expr_start), offset(expr_end)) else {
                return Err(unplaceable());
            };
            edits.push((s, e, format!("({GAS_FN}(), ")));
            edits.push((e, 0, ")".into()));
        }
    }
    for (start, end) in found.strings {
        let (Some(s), Some(e)) = (offset(start), offset(end)) else {
            return Err(unplaceable());
        };
        edits.push((s, e, format!("{STR_FN}((")));
        edits.push((e, 0, "))".into()));
    }
    // From the end, so earlier offsets stay valid.
    edits.sort_by_key(|e| (std::cmp::Reverse(e.0), e.1));
    let mut out = body.to_string();
    for (at, _, text) in edits {
        out.insert_str(at, &text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::instrument;

    #[test]
    fn charges_every_function_entry() {
        let src = "return {\n  m(ctx) { return 1 },\n  get x() { return 2 },\n  a: (y) => y + 1,\n  d: \"é€😀\", e: () => ({z: 1}), f: (q) => q\n    + 1,\n\tg() { return () => () => 3 },\n}";
        let out = instrument(src).unwrap();
        assert_eq!(
            out,
            "return {\n  m(ctx) {__miniledger_gas(); return 1 },\n  get x() {__miniledger_gas(); return 2 },\n  a: (y) => __miniledger_str(((__miniledger_gas(), y + 1))),\n  d: \"é€😀\", e: () => (__miniledger_gas(), ({z: 1})), f: (q) => __miniledger_str(((__miniledger_gas(), q\n    + 1))),\n\tg() {__miniledger_gas(); return () => (__miniledger_gas(), () => (__miniledger_gas(), 3)) },\n}"
        );
    }

    #[test]
    fn string_building_expressions_are_wrapped_where_they_stand() {
        let out = |src: &str| instrument(src).unwrap();
        assert_eq!(
            out("return (a) + b > 2"),
            "return __miniledger_str(((a) + b)) > 2"
        );
        assert_eq!(
            out("f((a) + b, c); s += `x${s}y`"),
            "f(__miniledger_str(((a) + b)), c); __miniledger_str((s += __miniledger_str((`x${s}y`))))"
        );
        assert_eq!(
            out("g = x => x + 1 > 2; h = () => {a + b}"),
            "g = x => (__miniledger_gas(), __miniledger_str((x + 1)) > 2); h = () => {__miniledger_gas();__miniledger_str((a + b))}"
        );
        assert_eq!(out("a - b; a * b"), "a - b; a * b");
        assert_eq!(
            out("return 'x'.repeat(3) + o.f(1)[2].g + (y)"),
            "return __miniledger_str((__miniledger_str(('x'.repeat(3) + o.f(1)[2].g)) + (y)))"
        );
        assert_eq!(
            out("f = x => 'x'.repeat(3); g = y => y.z"),
            "f = x => (__miniledger_gas(), 'x'.repeat(3)); g = y => (__miniledger_gas(), y.z)"
        );
        assert_eq!(out("a.b.c += x.y()"), "__miniledger_str((a.b.c += x.y()))");
        let many = format!("return `{}`", "${a}".repeat(super::MAX_TEMPLATE_PARTS + 1));
        assert!(instrument(&many).is_err());
        assert!(instrument("var __miniledger_str = 1; return {}").is_err());
    }

    #[test]
    fn refuses_the_reserved_name_and_odd_line_ends() {
        assert!(instrument("var __miniledger_gas = 1; return {}").is_err());
        assert!(instrument("var \\u005f_miniledger_gas = 1; return {}").is_err());
        assert!(instrument("return {}\r\n").is_err());
        assert!(instrument("return {").is_err());
    }
}
