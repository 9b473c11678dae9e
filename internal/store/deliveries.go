package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Delivery statuses: queued until a server claims it, running while one
// turns it into a pipeline, then done or failed.
const (
	DeliveryQueued  = "queued"
	DeliveryRunning = "running"
	DeliveryDone    = "done"
	DeliveryFailed  = "failed"
)

// Delivery is a webhook delivery recorded before the forge was answered.
type Delivery struct {
	ID        int64  `json:"id"`
	ProjectID int64  `json:"project_id"`
	Provider  string `json:"provider"`
	// DeliveryID is the forge's id of the delivery ("" when it sent none).
	DeliveryID string `json:"delivery_id,omitempty"`
	// Event is the normalized event as JSON (never the raw payload).
	Event      string     `json:"-"`
	Status     string     `json:"status"`
	ServerID   int64      `json:"-"`
	PipelineID int64      `json:"pipeline_id,omitempty"`
	Message    string     `json:"message,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

const deliveryCols = "id, project_id, provider, delivery, event, status, server_id, pipeline_id, message, created_at, finished_at"

func scanDelivery(r interface{ Scan(...any) error }) (Delivery, error) {
	var (
		d                  Delivery
		server, pipelineID sql.NullInt64
	)
	err := r.Scan(&d.ID, &d.ProjectID, &d.Provider, &d.DeliveryID, &d.Event, &d.Status, &server, &pipelineID,
		&d.Message, timeCol{&d.CreatedAt}, nullTimeCol{&d.FinishedAt})
	d.ServerID, d.PipelineID = server.Int64, pipelineID.Int64
	return d, err
}

// RecordDelivery queues a delivery. One whose forge id the project already
// has is not recorded again: the earlier one is returned with dup set.
func (s *Store) RecordDelivery(ctx context.Context, d Delivery) (_ Delivery, dup bool, err error) {
	rec, err := scanDelivery(s.conn().row(ctx, `INSERT INTO webhook_deliveries (project_id, provider, delivery, event, status, created_at)
		VALUES (?, ?, ?, ?, 'queued', ?) ON CONFLICT DO NOTHING RETURNING `+deliveryCols,
		d.ProjectID, d.Provider, d.DeliveryID, d.Event, now()))
	if err == nil {
		return rec, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) || d.DeliveryID == "" {
		return Delivery{}, false, fmt.Errorf("store: record delivery: %w", err)
	}
	rec, err = scanDelivery(s.conn().row(ctx, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE project_id = ? AND provider = ? AND delivery = ?",
		d.ProjectID, d.Provider, d.DeliveryID))
	if err != nil {
		return Delivery{}, false, fmt.Errorf("store: record delivery: %w", err)
	}
	return rec, true, nil
}

// GetDelivery returns one delivery.
func (s *Store) GetDelivery(ctx context.Context, id int64) (Delivery, error) {
	d, err := scanDelivery(s.conn().row(ctx, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE id = ?", id))
	if err != nil {
		return Delivery{}, fmt.Errorf("store: %w", notFound(err, "delivery", id))
	}
	return d, nil
}

// ClaimDelivery gives server the oldest queued delivery, ErrNotFound when
// there is none. A project's deliveries are claimed one at a time, so that
// its pipelines are created in the order the forge sent them.
func (s *Store) ClaimDelivery(ctx context.Context, server int64) (Delivery, error) {
	d, err := scanDelivery(s.conn().row(ctx, `UPDATE webhook_deliveries SET status = 'running', server_id = ?
		WHERE id = (SELECT id FROM webhook_deliveries WHERE status = 'queued'
			AND project_id NOT IN (SELECT project_id FROM webhook_deliveries WHERE status = 'running')
			ORDER BY id LIMIT 1`+s.d.skipLocked+`)
		AND status = 'queued' RETURNING `+deliveryCols, server))
	if err != nil {
		return Delivery{}, fmt.Errorf("store: claim delivery: %w", notFound(err, "delivery", "queued"))
	}
	return d, nil
}

// FinishDelivery records what came of a delivery: done (with its pipeline,
// if one was created) or failed, with a message for the user.
func (s *Store) FinishDelivery(ctx context.Context, id int64, status string, pipelineID int64, message string) error {
	_, err := s.conn().exec(ctx, "UPDATE webhook_deliveries SET status = ?, pipeline_id = ?, message = ?, finished_at = ? WHERE id = ?",
		status, nullID(pipelineID), message, now(), id)
	if err != nil {
		return fmt.Errorf("store: finish delivery %d: %w", id, err)
	}
	return nil
}

// RequeueDeliveries queues again the deliveries that a server stopped
// working on: one that is gone (no heartbeat for grace) or an earlier
// process of self's name.
func (s *Store) RequeueDeliveries(ctx context.Context, self Server, grace time.Duration) (int64, error) {
	t, err := s.dbNow(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: requeue deliveries: %w", err)
	}
	res, err := s.conn().exec(ctx, `UPDATE webhook_deliveries SET status = 'queued', server_id = NULL
		WHERE status = 'running' AND (server_id IS NULL OR server_id NOT IN
			(SELECT id FROM servers WHERE seen_at >= ? AND (id = ? OR name <> ?)))`,
		t.Add(-grace), self.ID, self.Name)
	if err != nil {
		return 0, fmt.Errorf("store: requeue deliveries: %w", err)
	}
	return res.RowsAffected()
}
