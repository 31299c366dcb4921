package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Schema names the format of a local copy.
const Schema = "pvreboot.dev/ledger/v1"

// localFile is a run's local copy: its record and the schema.
type localFile struct {
	Schema string `json:"schema"`
	Record
}

func localPath(stateDir, run string) string { return filepath.Join(stateDir, run+".json") }

// writeLocal writes rec to stateDir/<run>.json, mode 0600, atomically: a
// temporary file in the same directory, synced, then renamed over it.
func writeLocal(stateDir string, rec Record) (err error) {
	dst := localPath(stateDir, rec.Run)
	defer func() {
		if err != nil {
			err = fmt.Errorf("write local ledger %s: %w", dst, err)
		}
	}()
	data, err := json.Marshal(localFile{Schema: Schema, Record: rec})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(stateDir, "."+rec.Run+".json.tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	// The rename is durable once the directory is; a directory that
	// cannot be synced still holds the file.
	if d, err := os.Open(stateDir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// removeLocal removes a run's local copy; one already gone is no error.
func removeLocal(stateDir, run string) error {
	if err := os.Remove(localPath(stateDir, run)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove local ledger: %w", err)
	}
	return nil
}

// LoadLocal reads the local copy of a run's ledger, stateDir/<run>.json. It
// returns an error wrapping ErrNotFound when there is none, and one wrapping
// ErrInvalid when its contents are not a pvreboot ledger for that run.
func LoadLocal(stateDir, run string) (Record, error) {
	if err := checkRun(run); err != nil {
		return Record{}, fmt.Errorf("load local ledger: %w", err)
	}
	if stateDir == "" {
		return Record{}, fmt.Errorf("load local ledger of run %s: no state directory: %w", run, ErrNotFound)
	}
	p := localPath(stateDir, run)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, fmt.Errorf("load local ledger %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("load local ledger: %w", err)
	}
	var lf localFile
	if err := json.Unmarshal(data, &lf); err != nil {
		return Record{}, fmt.Errorf("load local ledger %s: %w: %w", p, ErrInvalid, err)
	}
	if lf.Schema != Schema {
		return Record{}, fmt.Errorf("load local ledger %s: %w: schema %q, want %q", p, ErrInvalid, lf.Schema, Schema)
	}
	if lf.Run != run {
		return Record{}, fmt.Errorf("load local ledger %s: %w: it is run %q's", p, ErrInvalid, lf.Run)
	}
	rec := lf.Record
	if err := rec.validate(); err != nil {
		return Record{}, fmt.Errorf("load local ledger %s: %w", p, err)
	}
	rec.Items = merge(nil, rec.Items...)
	return rec, nil
}
