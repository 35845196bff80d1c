//! Gas charges at every function entry, inserted into the source before it is compiled. Boa's
//! step count sees only code its top-level loop runs, not functions called back from native
//! code (getters, setters, `valueOf`/`toString` in coercions): a host call at the start of every
//! function body counts each call whoever makes it, and Boa bounds each call's loops together
//! (`Limits::max_loop_iterations`), so the work outside the step count is bounded too.

use super::receipt::Failure;
use boa_ast::function::FunctionBody;
use boa_ast::visitor::{VisitWith, Visitor};
use boa_ast::Spanned;
use boa_interner::Interner;
use boa_parser::{Parser, Source};
use std::convert::Infallible;
use std::ops::ControlFlow;

/// The host function charged at each function entry. Code naming it is refused.
pub const GAS_FN: &str = "__miniledger_gas";

/// (line, column) of a body's first and one-past-last character, 1-based, columns in chars.
type Span = ((u32, u32), (u32, u32));

struct Bodies(Vec<Span>);

impl<'ast> Visitor<'ast> for Bodies {
    type BreakTy = Infallible;

    fn visit_function_body(&mut self, node: &'ast FunctionBody) -> ControlFlow<Infallible> {
        let (start, end) = (node.span().start(), node.span().end());
        self.0.push((
            (start.line_number(), start.column_number()),
            (end.line_number(), end.column_number()),
        ));
        node.visit_with(self)
    }
}

/// Rewrites a function body's source so every nested function charges [`GAS_FN`] on entry:
/// `{ … }` bodies get `GAS_FN();` after the brace, expression bodies of arrows become
/// `(GAS_FN(), expression)`. The body itself is charged by its caller.
pub fn instrument(body: &str) -> Result<String, Failure> {
    // Positions count lines by `\n` only; other line terminators would shift them.
    if body.contains(['\r', '\u{2028}', '\u{2029}']) {
        return Err(Failure::Compile(
            "line terminators other than \\n are not supported".into(),
        ));
    }
    let mut interner = Interner::default();
    let parsed = Parser::new(Source::from_bytes(body))
        .parse_function_body(&mut interner, false, false)
        .map_err(|e| Failure::Compile(e.to_string()))?;
    if interner.get(GAS_FN).is_some() {
        return Err(Failure::Compile(format!("{GAS_FN} is reserved")));
    }
    let mut bodies = Bodies(Vec::new());
    let _ = parsed.visit_with(&mut bodies);

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
    let mut edits: Vec<(usize, String)> = Vec::new();
    for (start, end) in bodies.0 {
        let (Some(s), Some(e)) = (offset(start), offset(end)) else {
            return Err(Failure::Compile("cannot place gas charges".into()));
        };
        if body[s..].starts_with('{') {
            edits.push((s + 1, charge.clone()));
        } else {
            edits.push((s, format!("({GAS_FN}(), ")));
            edits.push((e, ")".into()));
        }
    }
    // From the end, so earlier offsets stay valid; at equal offsets any order gives the same text
    // (only closing parentheses can share an offset).
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = body.to_string();
    for (at, text) in edits {
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
            "return {\n  m(ctx) {__miniledger_gas(); return 1 },\n  get x() {__miniledger_gas(); return 2 },\n  a: (y) => (__miniledger_gas(), y + 1),\n  d: \"é€😀\", e: () => (__miniledger_gas(), ({z: 1})), f: (q) => (__miniledger_gas(), q\n    + 1),\n\tg() {__miniledger_gas(); return () => (__miniledger_gas(), () => (__miniledger_gas(), 3)) },\n}"
        );
    }

    #[test]
    fn refuses_the_reserved_name_and_odd_line_ends() {
        assert!(instrument("var __miniledger_gas = 1; return {}").is_err());
        assert!(instrument("var \\u005f_miniledger_gas = 1; return {}").is_err());
        assert!(instrument("return {}\r\n").is_err());
        assert!(instrument("return {").is_err());
    }
}
