package paymentpage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The files of a Store's directory. rampart writes the inventory; the
// scripts command writes the approvals; neither writes the other's.
const (
	inventoryFile = "inventory.json"
	approvalsFile = "approvals.json"
)

// Bounds on what reports and pages can make the inventory hold.
const (
	maxPages     = 256  // pages known
	maxResources = 1000 // resources per page seen in its HTML (reports have their own room)
	maxReported  = 500  // resources per page only browsers' reports name
	maxInline    = 20   // distinct inline scripts per page, past which they are one: varyingInline
	maxEvents    = 5000 // the change history kept, newest
	maxScans     = 8    // pages read for scripts at once: memory for MaxPageBytes each
)

// varyingInline is the inventory's one entry for a page's inline scripts
// past maxInline.
const varyingInline = "inline (varies with each response)"

// Event kinds: what changed on a payment page (the metric's kind label).
const (
	ScriptNew        = "script_new"        // a script the page had not run before
	ScriptChanged    = "script_changed"    // a known script's integrity or hash changed
	ScriptUnapproved = "script_unapproved" // an enforced page ran, or tried to run, a script not approved
	HeaderChanged    = "header_changed"    // a security header's value changed
	HeaderDropped    = "header_dropped"    // a security header is no longer sent
)

// Kinds lists the event kinds, for zero series.
var Kinds = []string{ScriptNew, ScriptChanged, ScriptUnapproved, HeaderChanged, HeaderDropped}

// Event is one change on a payment page.
type Event struct {
	Time    time.Time `json:"time"`
	Site    string    `json:"site"`
	Page    string    `json:"page"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"` // the script's URL, or the header's name
	Detail  string    `json:"detail,omitempty"`
}

// Resource is one thing a page loads: a script (by URL, or inline by its
// hash, or "eval"), a frame or a connection (by origin).
type Resource struct {
	Kind      string    `json:"kind"` // script, frame, connect
	URL       string    `json:"url"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	SeenBy    []string  `json:"seen_by"`             // "html" (in the page rampart served), "report" (a browser's)
	Integrity string    `json:"integrity,omitempty"` // the script element's integrity attribute
	Hash      string    `json:"hash,omitempty"`      // its content's, as CSP names it: an inline script's, or a file's as rampart served it; "varies" if that changes with each response
	alerted   bool      // script_unapproved raised
	changes   int       // times its content changed since start
	src       string    // a file's path and query as the page's HTML last named it (in memory only: it may hold digits)
}

type pageRecord struct {
	Site      string               `json:"site"`
	Resources map[string]*Resource `json:"resources"`
	Headers   map[string]string    `json:"headers,omitempty"` // the security headers as last sent
	HeadersAt time.Time            `json:"headers_at,omitzero"`
	scanned   bool                 // its HTML was seen since start (the first is its baseline)

	inlineRecent []time.Time // when new inline scripts appeared, within the last hour
	foldAlerted  time.Time   // when varyingInline last raised an alert
}

type inventory struct {
	Pages  map[string]*pageRecord `json:"pages"` // by page: "site/path"
	Events []Event                `json:"events"`
}

// Approval is a decision on one resource of one page.
type Approval struct {
	Page          string    `json:"page"`
	URL           string    `json:"url"`
	Status        string    `json:"status"` // "approved" or "rejected"
	Justification string    `json:"justification"`
	By            string    `json:"by"`
	At            time.Time `json:"at"`
	// Integrity and Hash are the resource's when it was approved: if they
	// change, the approval no longer holds.
	Integrity string `json:"integrity,omitempty"`
	Hash      string `json:"hash,omitempty"`
}

// Store is the inventory of a data directory's payment pages and the
// approvals of their resources. Safe for concurrent use.
type Store struct {
	dir string
	now func() time.Time

	mu        sync.Mutex
	inv       inventory
	approvals map[[2]string]Approval // by page and URL
	apStamp   string                 // approvals.json's size and time when read
	apFailed  string                 // its stamp when it last could not be read
	dirty     bool
	pages     map[string][]string // by site: its pages' paths, registered by New
	modes     map[string]string   // by page: its mode, registered by New
	scans     chan struct{}       // pages being read for scripts
	// scriptIndex maps each script a page's HTML loads (by host, then
	// path, as scriptURL splits its URL) to the pages, replaced whole when
	// one is added (reindex): looked up on every request, without
	// allocating.
	scriptIndex atomic.Pointer[map[string]map[string][]string]
	gen         atomic.Uint64 // counts changes of what the enforced policies allow
}

// Open reads (or starts) the inventory in dir, made 0700 if missing.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("paymentpage: %w", err)
	}
	s := &Store{dir: dir, now: time.Now, pages: map[string][]string{}, modes: map[string]string{}, scans: make(chan struct{}, maxScans)}
	data, err := os.ReadFile(filepath.Join(dir, inventoryFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("paymentpage: %w", err)
	default:
		if err := json.Unmarshal(data, &s.inv); err != nil {
			return nil, fmt.Errorf("paymentpage: %s: %w", filepath.Join(dir, inventoryFile), err)
		}
	}
	if s.inv.Pages == nil {
		s.inv.Pages = map[string]*pageRecord{}
	}
	for _, p := range s.inv.Pages {
		if p.Resources == nil {
			p.Resources = map[string]*Resource{}
		}
	}
	s.mu.Lock()
	s.reindex()
	s.mu.Unlock()
	// Approvals that cannot be read are none for now: the caller's
	// ReloadApprovals says why (so this try is not counted as said), and
	// reads them once they can be.
	_, _ = s.ReloadApprovals()
	s.apFailed = ""
	if s.approvals == nil {
		s.approvals = map[[2]string]Approval{}
	}
	return s, nil
}

// ReloadApprovals reads approvals.json again if it changed, and tells
// whether it did. The scripts command writes it; rampart calls this every
// few seconds.
func (s *Store) ReloadApprovals() (bool, error) {
	path := filepath.Join(s.dir, approvalsFile)
	fi, err := os.Stat(path)
	stamp := ""
	if err == nil {
		stamp = fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("paymentpage: %w", err)
	}
	s.mu.Lock()
	same := stamp == s.apStamp && s.approvals != nil
	s.mu.Unlock()
	if same {
		return false, nil
	}
	list, err := readApprovals(s.dir)
	if err != nil {
		// Tried again each call (a chown changes no stamp), said once.
		s.mu.Lock()
		said := s.apFailed == stamp
		s.apFailed = stamp
		s.mu.Unlock()
		if said {
			return false, nil
		}
		return false, err
	}
	m := map[[2]string]Approval{}
	for _, a := range list {
		m[[2]string{a.Page, a.URL}] = a
	}
	s.mu.Lock()
	s.approvals, s.apStamp, s.apFailed = m, stamp, ""
	s.mu.Unlock()
	s.gen.Add(1)
	return true, nil
}

func readApprovals(dir string) ([]Approval, error) {
	data, err := os.ReadFile(filepath.Join(dir, approvalsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("paymentpage: %w", err)
	}
	var list []Approval
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("paymentpage: %s: %w", filepath.Join(dir, approvalsFile), err)
	}
	return list, nil
}

// Flush writes the inventory if it changed since the last write.
func (s *Store) Flush() error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	data, err := json.MarshalIndent(&s.inv, "", "  ")
	s.dirty = false
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("paymentpage: %w", err)
	}
	return writeAtomic(filepath.Join(s.dir, inventoryFile), data)
}

// writeAtomic replaces path with data: a reader sees the old file or the new.
// The file belongs to its directory's owner (root running rampart scripts
// writes for a rampart that runs as another user), mode 0600.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("paymentpage: %w", err)
	}
	err = chownLikeDir(tmp, filepath.Dir(path))
	if err == nil {
		_, err = tmp.Write(append(data, '\n'))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("paymentpage: %w", err)
	}
	return nil
}

// reindex rebuilds scriptIndex. s.mu is held.
func (s *Store) reindex() {
	idx := map[string]map[string][]string{}
	for page, rec := range s.inv.Pages {
		for u, r := range rec.Resources {
			rest, ok := strings.CutPrefix(u, "https://")
			if !ok || r.Kind != "script" || !slices.Contains(r.SeenBy, "html") {
				continue
			}
			host, path, _ := strings.Cut(rest, "/")
			if idx[host] == nil {
				idx[host] = map[string][]string{}
			}
			idx[host]["/"+path] = append(idx[host]["/"+path], page)
		}
	}
	s.scriptIndex.Store(&idx)
}

// scriptPages are the pages that load the script at host and path (as a
// request names them), or nil.
func (s *Store) scriptPages(host, path string) []string {
	idx := s.scriptIndex.Load()
	if idx == nil || len(*idx) == 0 {
		return nil
	}
	paths := (*idx)[host]
	if paths == nil {
		paths = (*idx)[strings.ToLower(host)]
	}
	if paths == nil {
		return nil
	}
	return paths[maskDigits(path)]
}

// register records a page's path for its site, so reports find it, and its
// mode.
func (s *Store) register(site, path, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes[pageKey(site, path)] = mode
	if !slices.Contains(s.pages[site], path) {
		s.pages[site] = append(s.pages[site], path)
	}
}

// pageOf is the registered page of site whose path is the longest prefix of
// docPath, by whole segments, or "".
func (s *Store) pageOf(site, docPath string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := ""
	found := false
	for _, p := range s.pages[site] {
		base := strings.TrimSuffix(p, "/")
		if (docPath == base || strings.HasPrefix(docPath, base+"/") || base == "") && (!found || len(p) > len(best)) {
			best, found = p, true
		}
	}
	if !found {
		return ""
	}
	return pageKey(site, best)
}

func pageKey(site, path string) string {
	if path == "" {
		path = "/"
	}
	return site + path
}

// record returns the page's record, made if there is room; nil if not.
// s.mu is held.
func (s *Store) record(site, page string) *pageRecord {
	p := s.inv.Pages[page]
	if p == nil {
		if len(s.inv.Pages) >= maxPages {
			return nil
		}
		p = &pageRecord{Site: site, Resources: map[string]*Resource{}}
		s.inv.Pages[page] = p
		s.dirty = true
	}
	return p
}

// approved tells whether page's resource is approved and unchanged since.
// s.mu is held.
func (s *Store) approved(page string, r *Resource) bool {
	a, ok := s.approvals[[2]string{page, r.URL}]
	return ok && a.Status == "approved" && holds(a, r)
}

// holds tells whether an approval still holds for r: the same integrity
// attribute, and the same content where the approval knew it (an approval
// made before rampart had served the script pins no content).
func holds(a Approval, r *Resource) bool {
	return a.Integrity == r.Integrity && (a.Hash == "" || a.Hash == r.Hash)
}

// addEvent appends to the history. s.mu is held.
func (s *Store) addEvent(e Event) {
	s.inv.Events = append(s.inv.Events, e)
	if over := len(s.inv.Events) - maxEvents; over > 0 {
		s.inv.Events = slices.Delete(s.inv.Events, 0, over)
	}
	s.dirty = true
}

// approvedSources lists what an enforced page may load: script URLs, inline
// hashes, frame and connection origins that are approved and unchanged.
func (s *Store) approvedSources(page string) (scripts, hashes, frames, connects []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.inv.Pages[page]
	for key, a := range s.approvals {
		if key[0] != page || a.Status != "approved" {
			continue
		}
		var r *Resource
		if p != nil {
			r = p.Resources[a.URL]
		}
		if r == nil || !holds(a, r) || a.URL == varyingInline {
			continue // no longer known (its kind with it), or changed since it was approved
		}
		url := a.URL
		if strings.Contains(url, "/[digits]") {
			// A masked path allows nothing wider: the exact path the page
			// last named, if rampart has seen it since start.
			if r.src == "" {
				continue
			}
			scheme, rest, _ := strings.Cut(url, "://")
			host, _, _ := strings.Cut(rest, "/")
			path, _, _ := strings.Cut(r.src, "?")
			url = scheme + "://" + host + path
		}
		switch {
		case strings.HasPrefix(url, "inline "):
			hashes = append(hashes, strings.TrimPrefix(url, "inline "))
		case r.Kind == "frame":
			frames = append(frames, url)
		case r.Kind == "connect":
			connects = append(connects, url)
		case url != "eval":
			scripts = append(scripts, url)
		}
	}
	for _, l := range [][]string{scripts, hashes, frames, connects} {
		slices.Sort(l)
	}
	return scripts, hashes, frames, connects
}

// Dir is the Store's directory.
func (s *Store) Dir() string { return s.dir }
