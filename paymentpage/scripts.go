package paymentpage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one resource of one page with its standing, as the scripts command
// lists it.
type Row struct {
	Page string
	Resource
	// Status is "approved", "rejected", "pending" (never decided) or
	// "changed" (approved, but its integrity or hash changed since).
	Status   string
	Approval *Approval // nil if never decided
}

// List reads a directory's inventory and approvals, by page and URL.
func List(dir string) ([]Row, error) {
	inv, err := readInventory(dir)
	if err != nil {
		return nil, err
	}
	approvals, err := readApprovals(dir)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for page, p := range inv.Pages {
		for _, r := range p.Resources {
			row := Row{Page: page, Resource: *r, Status: "pending"}
			for i, a := range approvals {
				if a.Page == page && a.URL == r.URL {
					row.Approval = &approvals[i]
					row.Status = a.Status
					if a.Status == "approved" && !holds(a, r) {
						row.Status = "changed"
					}
				}
			}
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(a, b Row) int {
		return strings.Compare(a.Page+"\x00"+a.URL, b.Page+"\x00"+b.URL)
	})
	return rows, nil
}

func readInventory(dir string) (inventory, error) {
	var inv inventory
	data, err := os.ReadFile(filepath.Join(dir, inventoryFile))
	if errors.Is(err, os.ErrNotExist) {
		return inv, fmt.Errorf("paymentpage: no inventory in %s yet: rampart writes it once a payment page has been served", dir)
	}
	if err != nil {
		return inv, fmt.Errorf("paymentpage: %w", err)
	}
	if err := json.Unmarshal(data, &inv); err != nil {
		return inv, fmt.Errorf("paymentpage: %s: %w", filepath.Join(dir, inventoryFile), err)
	}
	return inv, nil
}

// Decide approves or rejects (status) a resource the inventory holds for a
// page, with a justification and who decided; an approval pins the
// resource's integrity and hash as they are now. A running rampart reads it
// within seconds.
func Decide(dir, page, url, status, justification, by string, now time.Time) error {
	if status != "approved" && status != "rejected" {
		return fmt.Errorf("paymentpage: status %q: want approved or rejected", status)
	}
	if strings.TrimSpace(justification) == "" || strings.TrimSpace(by) == "" {
		return errors.New("paymentpage: a decision needs a justification and who made it (PCI DSS 6.4.3 asks for both)")
	}
	inv, err := readInventory(dir)
	if err != nil {
		return err
	}
	p := inv.Pages[page]
	if p == nil {
		var pages []string
		for k := range inv.Pages {
			pages = append(pages, k)
		}
		slices.Sort(pages)
		return fmt.Errorf("paymentpage: no page %q in the inventory (it has %s)", page, strings.Join(pages, ", "))
	}
	r := p.Resources[url]
	if r == nil {
		return fmt.Errorf("paymentpage: page %s has not loaded %q: rampart scripts list shows what it has", page, url)
	}
	approvals, err := readApprovals(dir)
	if err != nil {
		return err
	}
	a := Approval{Page: page, URL: url, Status: status, Justification: justification, By: by, At: now.UTC(), Integrity: r.Integrity, Hash: r.Hash}
	approvals = slices.DeleteFunc(approvals, func(o Approval) bool { return o.Page == page && o.URL == url })
	approvals = append(approvals, a)
	data, err := json.MarshalIndent(approvals, "", "  ")
	if err != nil {
		return fmt.Errorf("paymentpage: %w", err)
	}
	return writeAtomic(filepath.Join(dir, approvalsFile), data)
}

// WriteReport prints the evidence an assessor asks for: each page's
// resources with their standing and justification, the security headers
// last sent, and the changes since since.
func WriteReport(w io.Writer, dir string, since, now time.Time) error {
	rows, err := List(dir)
	if err != nil {
		return err
	}
	inv, err := readInventory(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Payment-page script inventory (PCI DSS 6.4.3) and changes (11.6.1)\nmade %s from %s\n\n", now.UTC().Format(time.RFC3339), dir)
	var pages []string
	for k := range inv.Pages {
		pages = append(pages, k)
	}
	slices.Sort(pages)
	for _, page := range pages {
		fmt.Fprintf(w, "== %s\n\nResources:\n", page)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  STATUS\tKIND\tURL\tSEEN BY\tFIRST SEEN\tLAST SEEN\tINTEGRITY\tJUSTIFICATION\tBY")
		for _, r := range rows {
			if r.Page != page {
				continue
			}
			just, by := "-", "-"
			if r.Approval != nil {
				just, by = r.Approval.Justification, r.Approval.By+" "+r.Approval.At.Format("2006-01-02")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Status, r.Kind, r.URL, strings.Join(r.SeenBy, "+"),
				r.FirstSeen.UTC().Format(time.RFC3339), r.LastSeen.UTC().Format(time.RFC3339), orDash(r.Integrity+r.Hash), just, by)
		}
		tw.Flush()
		p := inv.Pages[page]
		fmt.Fprintf(w, "\nSecurity headers, as sent since %s:\n", p.HeadersAt.UTC().Format(time.RFC3339))
		for _, k := range securityHeaders {
			if v, ok := p.Headers[k]; ok {
				fmt.Fprintf(w, "  %s: %s\n", k, v)
			} else {
				fmt.Fprintf(w, "  %s: (not sent)\n", k)
			}
		}
		fmt.Fprintf(w, "\nChanges since %s:\n", since.UTC().Format(time.RFC3339))
		n := 0
		for _, e := range inv.Events {
			if e.Page == page && !e.Time.Before(since) {
				fmt.Fprintf(w, "  %s  %s  %s  %s\n", e.Time.UTC().Format(time.RFC3339), e.Kind, e.Subject, e.Detail)
				n++
			}
		}
		if n == 0 {
			fmt.Fprintln(w, "  none")
		}
		fmt.Fprintln(w)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
