package gen

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// callTest runs the generated stubs of the good program in both variants:
// f returns page[0:8] + x, plus page[8:16] where timens is on; g stores and
// returns a, plus page[16:24] + 1 where timens is on.
const callTest = `package target

import "testing"

func TestCall(t *testing.T) {
	page[0], page[8], page[16] = 5, 7, 100
	var ts TS
	if got := f_host(1, &ts); got != 6 {
		t.Errorf("f_host = %d, want 6", got)
	}
	if got := f_timens(1, &ts); got != 13 {
		t.Errorf("f_timens = %d, want 13", got)
	}
	if got := g_host(3, &ts); got != 3 || ts.A != 3 {
		t.Errorf("g_host = %d, ts %+v; want 3", got, ts)
	}
	if got := g_timens(3, &ts); got != 104 || ts.A != 104 {
		t.Errorf("g_timens = %d, ts %+v; want 104", got, ts)
	}
	if vd_host_addr() == nil || vd_timens_addr() == nil {
		t.Error("image address is nil")
	}
	if vdLayout.Program != "vd" || len(vdLayout.Variants) != 2 {
		t.Errorf("layout %+v", vdLayout)
	}
}
`

// TestGeneratedPackage writes the outputs into a target package that can
// import this module, and runs go vet and a test calling every stub.
func TestGeneratedPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a package")
	}
	o, _ := goodOutput(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := newTarget(t)
	gomod := "module example.com/target\n\ngo 1.22\n\nrequire github.com/vdsogen/vdsogen v0.0.0\n\nreplace github.com/vdsogen/vdsogen => " + root + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "call_test.go"), []byte(callTest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, "vd", o.Files); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"vet", "."}, {"test", "-count=1", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %v: %v\n%s", args, err, out)
		}
	}
}
