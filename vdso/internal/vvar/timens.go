package vvar

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// TimensOffsetsPath is where a process finds the offsets of its time
// namespace. Strictly it shows the namespace of the process's future
// children (time_for_children); the two differ only in a process that
// called unshare(CLONE_NEWTIME) itself and has not forked since.
const TimensOffsetsPath = "/proc/self/timens_offsets"

// TimensOffsets are the two offsets a time namespace has.
type TimensOffsets struct {
	Monotonic TimensOffset // MONOTONIC, MONOTONIC_RAW, MONOTONIC_COARSE
	Boottime  TimensOffset // BOOTTIME, BOOTTIME_ALARM
}

// ParseTimensOffsets parses the format of /proc/PID/timens_offsets: one line
// per clock, "<clock> <sec> <nsec>", clock "monotonic" or "boottime" (the
// numeric ids 1 and 7 are accepted too), nsec in [0, 1e9), sec possibly
// negative. A clock that has no line has offset zero. Unknown clocks and
// malformed lines are errors: a page filled from a format we do not
// understand would give wrong times.
func ParseTimensOffsets(r io.Reader) (TimensOffsets, error) {
	var o TimensOffsets
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return TimensOffsets{}, fmt.Errorf("vvar: timens offsets line %d: want \"clock sec nsec\", got %q", line, sc.Text())
		}
		sec, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return TimensOffsets{}, fmt.Errorf("vvar: timens offsets line %d: seconds: %v", line, err)
		}
		nsec, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return TimensOffsets{}, fmt.Errorf("vvar: timens offsets line %d: nanoseconds: %v", line, err)
		}
		if nsec < 0 || nsec >= nsecPerSec {
			return TimensOffsets{}, fmt.Errorf("vvar: timens offsets line %d: nanoseconds %d out of [0, 1e9)", line, nsec)
		}
		off := TimensOffset{Sec: sec, Nsec: nsec}
		switch f[0] {
		case "monotonic", "1":
			o.Monotonic = off
		case "boottime", "7":
			o.Boottime = off
		default:
			return TimensOffsets{}, fmt.Errorf("vvar: timens offsets line %d: unknown clock %q", line, f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return TimensOffsets{}, fmt.Errorf("vvar: timens offsets: %w", err)
	}
	return o, nil
}

// Fill writes the offsets into t the way the kernel fills its time-namespace
// page: MONOTONIC, MONOTONIC_RAW and MONOTONIC_COARSE get the monotonic
// offset, BOOTTIME and BOOTTIME_ALARM the boottime offset, every other slot
// is zero.
func (o TimensOffsets) Fill(t *TimensPage) {
	*t = TimensPage{}
	t.Offsets[ClockMonotonic] = o.Monotonic
	t.Offsets[ClockMonotonicRaw] = o.Monotonic
	t.Offsets[ClockMonotonicCoarse] = o.Monotonic
	t.Offsets[ClockBoottime] = o.Boottime
	t.Offsets[ClockBoottimeAlarm] = o.Boottime
}

// IsZero reports whether both offsets are zero.
func (o TimensOffsets) IsZero() bool { return o == TimensOffsets{} }

// Format spells o as /proc/PID/timens_offsets does, the form a new time
// namespace's offsets are written in.
func (o TimensOffsets) Format() string {
	return fmt.Sprintf("monotonic %d %d\nboottime %d %d\n", o.Monotonic.Sec, o.Monotonic.Nsec, o.Boottime.Sec, o.Boottime.Nsec)
}

// ReadTimensOffsets reads TimensOffsetsPath. A missing file (kernel without
// CONFIG_TIME_NS) means zero offsets.
func ReadTimensOffsets() (TimensOffsets, error) {
	f, err := os.Open(TimensOffsetsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return TimensOffsets{}, nil
	}
	if err != nil {
		return TimensOffsets{}, fmt.Errorf("vvar: %w", err)
	}
	defer f.Close()
	return ParseTimensOffsets(f)
}

// FillTimens fills t with the offsets of the calling process's time
// namespace (see TimensOffsetsPath). On error t is left unchanged.
func FillTimens(t *TimensPage) error {
	o, err := ReadTimensOffsets()
	if err != nil {
		return err
	}
	o.Fill(t)
	return nil
}
