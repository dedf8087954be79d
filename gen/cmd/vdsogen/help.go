package main

import (
	"fmt"
	"io"
	"strings"
)

const mainUsage = `Vdsogen inspects and verifies the images vdsogen generated.

Usage:

	vdsogen <command> [arguments]

The commands are:
{{commands}}
Use "vdsogen help <command>" for more information about a command.
`

func printMainUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "\t%-10s %s\n", c.name, c.short)
	}
	fmt.Fprint(w, strings.Replace(mainUsage, "{{commands}}", b.String(), 1))
}

// help is "vdsogen help [command]": the list of commands, or one
// command's documentation.
func help(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		printMainUsage(stdout)
		return 0
	case 1:
		for _, c := range commands {
			if c.name == args[0] {
				fmt.Fprintf(stdout, "usage: %s\n\n%s\n", c.usageLine, c.long)
				return 0
			}
		}
		fmt.Fprintf(stderr, "vdsogen help %s: unknown help topic. Run 'vdsogen help'.\n", args[0])
		return 2
	}
	fmt.Fprintf(stderr, "usage: vdsogen help command\n\nToo many arguments given.\n")
	return 2
}
