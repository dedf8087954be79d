// Package variants is the variant model of vdsogen and the parser of the
// version-controlled variant definitions file.
//
// A variant picks the value of every marker key: a marker such as a static
// branch or a three-label region is enabled in the variants whose key is
// true and disabled in the others. Every variant of a program is generated
// from the same routines; shared variants have the same layout (every entry
// at the same offset) so that an image can be switched from one to another,
// while a standalone variant elides the markers whose key is off entirely and
// therefore has its own, smaller layout.
//
// Without a definitions file the built-in set is used (see [Builtin]): the
// variants host (timens = false) and timens (timens = true).
//
// # File format
//
// The definitions file is TOML. Each variant is a table named variant.NAME
// whose entries are boolean marker keys; the reserved attribute standalone
// (default false) makes the variant standalone:
//
//	# variants.toml
//	[variant.host]
//	timens = false
//
//	[variant.timens]
//	timens = true
//
//	[variant.nomarker]   # a single-variant build with markers elided
//	standalone = true
//	timens = false
//
// The dotted form variant.host.timens = false at the top of the file is
// accepted too. The rules:
//
//   - only variant.NAME tables are allowed at top level;
//   - variant names and key names match ^[a-z][a-z0-9_]*$ (they become parts
//     of Go symbol and file names); standalone is not a key;
//   - a switch key (StaticBranch, ThreeLabel) takes the TOML booleans true
//     and false; a choice key (Alternative, StaticCall) takes a string, the
//     name of the choice or target the variant assembles, e.g.
//     tsc = "lfence_rdtsc"; a key is of one kind in every variant;
//   - a program's choice keys may be left out of the file altogether: every
//     variant then assembles the marker's first choice;
//   - every variant sets exactly the same keys (zero keys is allowed only if
//     no variant has any);
//   - a variant is defined once and sets each key once;
//   - there is at least one variant that is not standalone, and no two
//     shared variants have the same settings;
//   - the file is UTF-8 text without NUL bytes, at most 1 MiB.
//
// Every problem is reported as an [Error] positioned at file:line:col (line
// and column 1-based, the column counted in bytes); [Parse] and [Load] report
// all the problems they can find at once, as an [ErrorList] sorted by
// position. After a TOML syntax error only the problems found before it are
// reported, together with the syntax error itself.
package variants
