package elfimage

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vdsogen/vdsogen/internal/realtools"
	"github.com/vdsogen/vdsogen/layout"
)

// unwindImage is testImage plus an entry that pushes and jumps backwards
// (so the linear address order of its depths differs from the control
// flow), with its stack model and debugging sections:
//
//	frame:  0 PUSHQ BX          depth 0
//	        1 JMP +2 (to 5)     depth 8
//	        3 POPQ BX           depth 8
//	        4 RET               depth 0
//	        5 SUBQ $16, SP      depth 8
//	        9 ADDQ $16, SP      depth 24
//	       13 JMP -12 (to 3)    depth 8
func unwindImage() Image {
	img := testImage()
	for len(img.Code)%32 != 0 {
		img.Code = append(img.Code, 0xcc)
	}
	f := len(img.Code)
	img.Code = append(img.Code,
		0x53,       // PUSHQ BX
		0xeb, 0x02, // JMP +2
		0x5b,                   // POPQ BX
		0xc3,                   // RET
		0x48, 0x83, 0xec, 0x10, // SUBQ $16, SP
		0x48, 0x83, 0xc4, 0x10, // ADDQ $16, SP
		0xeb, 0xf4, // JMP -12
	)
	img.Entries = append(img.Entries, Entry{Name: "frame", Offset: f, Size: len(img.Code) - f})
	img.Stack = map[int]int{}
	for _, e := range img.Entries[:4] {
		img.Stack[e.Offset], img.Stack[e.Offset+7], img.Stack[e.Offset+10] = 0, 0, 0
	}
	for o, d := range map[int]int{0: 0, 1: 8, 3: 8, 4: 0, 5: 8, 9: 24, 13: 8} {
		img.Stack[f+o] = d
	}
	img.Debug = &Debug{Producer: "test", Labels: []Label{{"frame.loop", f + 5}, {"frame.out", f + 3}}}
	for i, o := range []int{0, 7, 10, 32, 39, f, f + 5, f + 13} {
		img.Debug.Source = append(img.Debug.Source, layout.Span{Offset: o, Source: fmt.Sprintf("dir/asm.go:%d:2", 10+3*i)})
	}
	return img
}

func TestUnwindTables(t *testing.T) {
	img := unwindImage()
	b := mustWrite(t, img)
	if err := CheckUnwind(b, img.Stack); err != nil {
		t.Fatalf("CheckUnwind: %v", err)
	}
	fdes, err := ReadUnwind(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(fdes) != len(img.Entries) {
		t.Fatalf("%d FDEs, want one per entry (%d)", len(fdes), len(img.Entries))
	}
	text, _, _ := Section(b, ".text")
	f := img.Entries[4].Offset
	var got []string
	for _, r := range fdes[4].Rows {
		got = append(got, fmt.Sprintf("%d-%d:%d", int(r.Start)-text-f, int(r.End)-text-f, r.CFAOffset))
	}
	// One row per run of equal depth in address order.
	if want := "0-1:8 1-4:16 4-5:8 5-9:16 9-13:32 13-15:16"; strings.Join(got, " ") != want {
		t.Errorf("rows %s, want %s", strings.Join(got, " "), want)
	}
	// The loaded bytes hold the tables; the debugging sections are outside
	// the PT_LOAD.
	ef, _ := elf.NewFile(bytes.NewReader(b))
	for _, name := range []string{ehFrameSection, ehFrameHdrSection} {
		if s := ef.Section(name); s == nil || s.Flags&elf.SHF_ALLOC == 0 || s.Flags&(elf.SHF_WRITE|elf.SHF_EXECINSTR) != 0 {
			t.Errorf("section %s: %+v, want allocated, read-only, not executable", name, s)
		}
	}
	for _, name := range []string{symtabSection, strtabSection, debugInfoSection, debugLineSection, debugAbbrevSection} {
		if s := ef.Section(name); s == nil || s.Flags&elf.SHF_ALLOC != 0 {
			t.Errorf("section %s: %+v, want non-allocated", name, s)
		}
	}
	// Without debugging sections the loaded bytes are the same, but for
	// the ELF header's section header table fields.
	plain := img
	plain.Debug = nil
	pb := mustWrite(t, plain)
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && !bytes.Equal(pb[ehdrSize:p.Filesz], b[ehdrSize:p.Filesz]) {
			t.Error("the debugging sections change the loaded bytes")
		}
	}
}

// TestCheckUnwindDisagrees: every way a model and a table can disagree is
// reported at the instruction.
func TestCheckUnwindDisagrees(t *testing.T) {
	img := unwindImage()
	b := mustWrite(t, img)
	f := img.Entries[4].Offset
	for _, c := range []struct {
		name string
		edit func(m map[int]int)
		want string
	}{
		{"deeper", func(m map[int]int) { m[f+9] = 32 }, fmt.Sprintf("code offset %#x", f+9)},
		{"shallower after a jump back", func(m map[int]int) { m[f+3] = 0 }, fmt.Sprintf("code offset %#x", f+3)},
		{"inside a run", func(m map[int]int) { m[f+2] = 16 }, fmt.Sprintf("code offset %#x", f+2)},
		{"outside every FDE", func(m map[int]int) { m[12] = 0 }, "no FDE covers it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := map[int]int{}
			for o, d := range img.Stack {
				m[o] = d
			}
			c.edit(m)
			err := CheckUnwind(b, m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("CheckUnwind = %v, want %q", err, c.want)
			}
		})
	}
	plain := img
	plain.Stack = nil
	if err := CheckUnwind(mustWrite(t, plain), img.Stack); err == nil || !strings.Contains(err.Error(), "no PT_GNU_EH_FRAME") {
		t.Errorf("an image without tables: %v", err)
	}
}

func TestWriteRejectsStack(t *testing.T) {
	for name, edit := range map[string]func(m map[int]int){
		"entry not at 0": func(m map[int]int) { m[0] = 8 },
		"negative":       func(m map[int]int) { m[1] = -8 },
		"outside":        func(m map[int]int) { m[1<<20] = 0 },
		"unaligned":      func(m map[int]int) { m[1] = 4 },
	} {
		img := unwindImage()
		edit(img.Stack)
		if _, err := Write(img); err == nil {
			t.Errorf("%s: Write accepted the model", name)
		}
	}
}

func ehHdr(t *testing.T, f *elf.File, b []byte) []byte {
	t.Helper()
	s := f.Section(ehFrameHdrSection)
	if s == nil {
		t.Fatal("no .eh_frame_hdr")
	}
	return b[s.Offset : s.Offset+s.Size]
}

var unwindMutations = []messageMutation{
	{"no PT_GNU_EH_FRAME", func(t *testing.T, f *elf.File, b []byte) { setPhdrType(b, 3, elf.PT_NULL) }},
	{".eh_frame_hdr version 2", func(t *testing.T, f *elf.File, b []byte) { ehHdr(t, f, b)[0] = 2 }},
	{"the search table says", func(t *testing.T, f *elf.File, b []byte) {
		h := ehHdr(t, f, b)
		le.PutUint32(h[ehFrameHdrTableFrom:], le.Uint32(h[ehFrameHdrTableFrom:])+1)
	}},
	{"want CFA = RSP+8+depth", func(t *testing.T, f *elf.File, b []byte) {
		s := f.Section(ehFrameSection)
		i := bytes.Index(b[s.Offset:], []byte{cfaDefCFA, dwRegRSP, 8})
		b[int(s.Offset)+i+1] = 6 // CFA = RBP+8
	}},
	{"not covered by one FDE", func(t *testing.T, f *elf.File, b []byte) {
		// Shorten the last FDE (the frame entry) by one byte.
		s := f.Section(ehFrameSection)
		fdes, err := ReadUnwind(b)
		if err != nil {
			t.Fatal(err)
		}
		last := fdes[len(fdes)-1]
		for o := s.Offset; o+12 < s.Offset+s.Size; o++ {
			if pc := s.Addr + (o - s.Offset) + uint64(int64(int32(le.Uint32(b[o:])))); pc == last.Start && le.Uint32(b[o+4:]) == uint32(last.End-last.Start) {
				le.PutUint32(b[o+4:], uint32(last.End-last.Start-1))
				return
			}
		}
		t.Fatal("FDE not found")
	}},
	{"unsupported", func(t *testing.T, f *elf.File, b []byte) {
		s := f.Section(ehFrameSection)
		i := bytes.Index(b[s.Offset:], []byte{cfaDefCFAOffset, 16})
		b[int(s.Offset)+i] = 0x2f // DW_CFA_GNU_args_size-like opcode we do not emit
	}},
}

// TestCheckRejectsUnwind: Check finds each broken unwind table.
func TestCheckRejectsUnwind(t *testing.T) {
	checkRejectsEach(t, "eh-frame", mustWrite(t, unwindImage()), unwindMutations)
}

// TestDebugSections reads the DWARF and the symbol table back with
// debug/dwarf and debug/elf.
func TestDebugSections(t *testing.T) {
	img := unwindImage()
	b := mustWrite(t, img)
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text").Addr
	d, err := f.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	r := d.Reader()
	cu, err := r.Next()
	if err != nil || cu.Tag != dwarf.TagCompileUnit {
		t.Fatalf("first DIE %v, %v", cu, err)
	}
	var subs []string
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil || e.Tag == 0 {
			break
		}
		lo, _ := e.Val(dwarf.AttrLowpc).(uint64)
		subs = append(subs, fmt.Sprintf("%s@%d", e.Val(dwarf.AttrName), lo-text))
	}
	if want := "clock_gettime@0 gettimeofday@32 time@64 clock_getres@96 frame@128"; strings.Join(subs, " ") != want {
		t.Errorf("subprograms %s, want %s", strings.Join(subs, " "), want)
	}
	lr, err := d.LineReader(cu)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	var le dwarf.LineEntry
	for lr.Next(&le) == nil {
		if le.EndSequence {
			rows = append(rows, fmt.Sprintf("end@%d", le.Address-text))
			continue
		}
		rows = append(rows, fmt.Sprintf("%s:%d:%d@%d", le.File.Name, le.Line, le.Column, le.Address-text))
	}
	var want []string
	for _, s := range img.Debug.Source {
		want = append(want, s.Source+"@"+strconv.Itoa(s.Offset))
	}
	want = append(want, "end@"+strconv.Itoa(len(img.Code)))
	if strings.Join(rows, " ") != strings.Join(want, " ") {
		t.Errorf("line rows\n got %s\nwant %s", strings.Join(rows, " "), strings.Join(want, " "))
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	wantSym := map[string]uint64{"vdsoData": 1<<64 - 2*PageSize} // the page, below the image
	for name, off := range map[string]uint64{"frame.loop": 133, "frame.out": 131, "__vdso_frame": 128, "frame": 128, "__vdso_time": 64} {
		wantSym[name] = text + off
	}
	for _, s := range syms {
		if v, ok := wantSym[s.Name]; ok {
			if s.Value != v {
				t.Errorf("symbol %s = %#x, want %#x", s.Name, s.Value, v)
			}
			delete(wantSym, s.Name)
		}
	}
	for name := range wantSym {
		t.Errorf("no symbol %s", name)
	}
}

// TestUnwindReadelf: binutils' readelf and objdump read the tables and the
// DWARF without a warning, and readelf's interpretation of the CFA at every
// instruction agrees with the stack model (not only our own reader).
func TestUnwindReadelf(t *testing.T) {
	readelf := realtools.Need(t, "readelf", "binutils")
	objdump := realtools.Need(t, "objdump", "binutils")
	img := unwindImage()
	b := mustWrite(t, img)
	path := t.TempDir() + "/x.so"
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := realtools.Run(t, readelf, "-a", "-W", "--debug-dump=frames-interp,info,rawline,decodedline,abbrev", path)
	realtools.Run(t, objdump, "-d", "-l", "--dwarf=frames,info,rawline", path)
	text, _, _ := Section(b, ".text")
	problems, n := realtools.CompareCFA(out, text, img.Stack)
	for _, p := range problems {
		t.Error(p)
	}
	if n != len(img.Stack) {
		t.Errorf("compared %d instructions, the model has %d", n, len(img.Stack))
	}
}

// FuzzUnwind: Check, ReadUnwind and CheckUnwind return on any input (a
// damaged image with unwind tables and debugging sections); they never
// panic, and a file CheckUnwind accepts passes Check.
func FuzzUnwind(f *testing.F) {
	img := unwindImage()
	good := mustWrite(f, img)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		cerr := Check(b)
		ReadUnwind(b)
		if err := CheckUnwind(b, img.Stack); err == nil && cerr != nil {
			t.Fatalf("CheckUnwind accepts a file Check rejects: %v", cerr)
		}
	})
}
