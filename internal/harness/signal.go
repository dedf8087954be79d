package harness

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Interruptible returns a context that an interrupt (SIGINT), a
// termination request (SIGTERM: kill, timeout, a CI runner cancelling) or
// a closed terminal (SIGHUP) cancels instead of killing the process, so
// that a Build in progress removes its temporary module and the caller
// writes nothing half-done. stop releases the signals.
func Interruptible() (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}
