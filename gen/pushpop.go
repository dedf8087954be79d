package gen

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vdsogen/vdsogen/dsl"
)

// The Go assembler tracks the stack pointer through PUSH, POP and ADJSP in
// the order the instructions are written, not along control flow, and
// rejects a TEXT symbol where any RET sees a non-zero adjustment with
// "<symbol>: unbalanced PUSH/POP", naming no line. pushPopErrors repeats
// that walk over the printed images to name the RET and the PUSH (or POP)
// in the generator program.

// spAdjust is how far each instruction moves the stack pointer down.
var spAdjust = map[string]int{
	"PUSHQ": 8, "PUSHFQ": 8, "PUSHL": 4, "PUSHFL": 4, "PUSHW": 2, "PUSHFW": 2,
	"POPQ": -8, "POPFQ": -8, "POPL": -4, "POPFL": -4, "POPW": -2, "POPFW": -2,
}

// pushPopErrors lists, once per RET position, the RETs the assembler
// rejects as unbalanced, in source order.
func pushPopErrors(prints map[string]*printed) dsl.ErrorList {
	var errs dsl.ErrorList
	seen := map[string]bool{}
	for _, file := range sortedKeys(prints) {
		p := prints[file]
		type push struct {
			pos  dsl.Pos
			op   string
			size int
		}
		var pushed []push // unmatched pushes, innermost last
		depth := 0
		inText := false
		for i, line := range strings.Split(string(p.text), "\n") {
			line = strings.TrimSpace(line)
			if !inText {
				inText = strings.HasPrefix(line, "TEXT ")
				continue
			}
			if line == "" || strings.HasPrefix(line, "//") || strings.HasSuffix(line, ":") {
				continue
			}
			fields := strings.Fields(line)
			op := fields[0]
			pos := p.lines[i+1]
			switch n, ok := spAdjust[op]; {
			case ok && n > 0:
				pushed = append(pushed, push{pos, op, n})
				depth += n
			case ok:
				depth += n
				for need := -n; need > 0 && len(pushed) > 0; {
					last := &pushed[len(pushed)-1]
					take := min(need, last.size)
					last.size -= take
					need -= take
					if last.size == 0 {
						pushed = pushed[:len(pushed)-1]
					}
				}
			case op == "ADJSP" && len(fields) > 1:
				if v, err := strconv.ParseInt(strings.TrimPrefix(fields[1], "$"), 0, 32); err == nil {
					depth += int(v)
				}
			case op == "RET" && depth != 0:
				key := pos.String()
				if seen[key] {
					continue
				}
				seen[key] = true
				var why string
				if depth > 0 && len(pushed) > 0 {
					last := pushed[len(pushed)-1]
					why = fmt.Sprintf("%d bytes are still pushed: the %s at %s has no POP between it and this RET in the text", depth, last.op, last.pos)
				} else {
					why = fmt.Sprintf("%d bytes more were popped than pushed before this RET in the text", -depth)
				}
				errs = append(errs, &dsl.Error{Pos: pos, Msg: fmt.Sprintf("RET with an unbalanced stack: %s; the Go assembler requires PUSH and POP to balance at every RET in the order they are written, whatever the branches (it reports \"unbalanced PUSH/POP\")", why)})
			}
		}
	}
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Pos, errs[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
