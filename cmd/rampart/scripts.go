package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rampart-proxy/rampart/paymentpage"
)

// runScripts is `rampart scripts`: the payment pages' inventory of scripts
// (and frames and connections), kept by a running rampart in its data
// directory, and the decisions on them (PCI DSS 6.4.3). A running rampart
// reads a decision within seconds: an approved resource joins an enforced
// page's policy.
func runScripts(args []string, env environment, stdout io.Writer, now time.Time) error {
	const use = "rampart scripts list | approve PAGE URL --justification TEXT [--by NAME] | reject PAGE URL --justification TEXT [--by NAME] | report [--since 168h]"
	fs := flag.NewFlagSet("rampart scripts", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := fs.String("data-dir", defaultDataDir(), "the data directory of the rampart that serves the pages (its --data-dir)")
	if v, ok := env.lookup("RAMPART_DATA_DIR"); ok {
		*dataDir = v
	}
	justification := fs.String("justification", "", "approve, reject: why this resource belongs on the page, or not (required)")
	by := fs.String("by", env["USER"], "approve, reject: who decides (default: $USER)")
	since := fs.Duration("since", 7*24*time.Hour, "report: the changes of this long")
	// Flags may come before, between or after the words.
	var words []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stdout, use)
				fs.SetOutput(stdout)
				fs.PrintDefaults()
				return err
			}
			return &settingError{"rampart scripts", err.Error(), use}
		}
		if fs.NArg() == 0 {
			break
		}
		words, rest = append(words, fs.Arg(0)), fs.Args()[1:]
	}
	if len(words) == 0 {
		return &settingError{"rampart scripts", "no command", use}
	}
	dir := pagesDir(*dataDir)
	want := map[string]int{"list": 1, "report": 1, "approve": 3, "reject": 3}
	if n, ok := want[words[0]]; !ok || len(words) != n {
		return &settingError{"rampart scripts " + strings.Join(words, " "), "not a command", use}
	}
	switch words[0] {
	case "list":
		rows, err := paymentpage.List(dir)
		if err != nil {
			return &settingError{"rampart scripts list", err.Error(), "give the --data-dir of the rampart that serves the payment pages"}
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PAGE\tSTATUS\tKIND\tURL\tSEEN BY\tLAST SEEN\tJUSTIFICATION")
		for _, r := range rows {
			just := "-"
			if r.Approval != nil {
				just = r.Approval.Justification + " (" + r.Approval.By + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Page, r.Status, r.Kind, r.URL, strings.Join(r.SeenBy, "+"), r.LastSeen.UTC().Format(time.RFC3339), just)
		}
		return tw.Flush()
	case "report":
		if err := paymentpage.WriteReport(stdout, dir, now.Add(-*since), now); err != nil {
			return &settingError{"rampart scripts report", err.Error(), "give the --data-dir of the rampart that serves the payment pages"}
		}
		return nil
	}
	status := map[string]string{"approve": "approved", "reject": "rejected"}[words[0]]
	if err := paymentpage.Decide(dir, words[1], words[2], status, *justification, *by, now); err != nil {
		return &settingError{"rampart scripts " + words[0], strings.TrimPrefix(err.Error(), "paymentpage: "), "rampart scripts list shows each page and URL; give --justification \"why\" and --by NAME"}
	}
	fmt.Fprintf(stdout, "rampart scripts: %s %s on %s\n", status, words[2], words[1])
	return nil
}
