-- The state store's first released schema (Tandem 0.1.0) on postgresql: the DDL SQLAlchemy's create_all emitted
-- for tandem/store/tables.py at commit 0a41b86 (generated from that commit's code; do not edit).

CREATE TABLE connections (
	id BIGSERIAL NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	crm_org_id VARCHAR(64) NOT NULL, 
	erp_account_id VARCHAR(64) NOT NULL, 
	environment VARCHAR(10) NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	options JSONB NOT NULL, 
	sync_enabled_at TIMESTAMP WITH TIME ZONE, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	archived BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name), 
	CONSTRAINT ck_connections_environment CHECK (environment IN ('production', 'sandbox'))
);

CREATE UNIQUE INDEX uq_connections_active_crm_org ON connections (crm_org_id) WHERE archived = false;

CREATE TABLE bindings (
	id BIGSERIAL NOT NULL, 
	connection_id BIGINT NOT NULL, 
	entity VARCHAR(64) NOT NULL, 
	crm_id VARCHAR(64), 
	erp_id VARCHAR(64), 
	external_id VARCHAR(255), 
	crm_hash VARCHAR(64), 
	erp_hash VARCHAR(64), 
	last_synced_at TIMESTAMP WITH TIME ZONE, 
	status VARCHAR(8) NOT NULL, 
	error_code VARCHAR(100), 
	error_message TEXT, 
	archived BOOLEAN NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(connection_id) REFERENCES connections (id) ON DELETE CASCADE, 
	CONSTRAINT ck_bindings_status CHECK (status IN ('synced', 'failed', 'excluded', 'deleted', 'pending'))
);

CREATE INDEX ix_bindings_connection_status ON bindings (connection_id, entity, status);

CREATE UNIQUE INDEX uq_bindings_active_crm_id ON bindings (connection_id, entity, crm_id) WHERE archived = false;

CREATE UNIQUE INDEX uq_bindings_active_erp_id ON bindings (connection_id, entity, erp_id) WHERE archived = false;

CREATE TABLE watermarks (
	id BIGSERIAL NOT NULL, 
	connection_id BIGINT NOT NULL, 
	entity VARCHAR(64) NOT NULL, 
	side VARCHAR(3) NOT NULL, 
	value TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_watermarks_key UNIQUE (connection_id, entity, side), 
	FOREIGN KEY(connection_id) REFERENCES connections (id) ON DELETE CASCADE, 
	CONSTRAINT ck_watermarks_side CHECK (side IN ('crm', 'erp'))
);

CREATE TABLE sync_runs (
	id BIGSERIAL NOT NULL, 
	connection_id BIGINT NOT NULL, 
	flow_run_id VARCHAR(64), 
	procedure VARCHAR(64) NOT NULL, 
	state VARCHAR(9) NOT NULL, 
	started_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	finished_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(connection_id) REFERENCES connections (id) ON DELETE CASCADE, 
	CONSTRAINT ck_sync_runs_state CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled'))
);

CREATE INDEX ix_sync_runs_flow_run_id ON sync_runs (flow_run_id);

CREATE TABLE sync_jobs (
	id BIGSERIAL NOT NULL, 
	run_id BIGINT NOT NULL, 
	entity VARCHAR(64) NOT NULL, 
	state VARCHAR(9) NOT NULL, 
	skip_reason TEXT, 
	inserted INTEGER NOT NULL, 
	modified INTEGER NOT NULL, 
	deleted INTEGER NOT NULL, 
	unchanged INTEGER NOT NULL, 
	skipped INTEGER NOT NULL, 
	failed INTEGER NOT NULL, 
	coupled INTEGER NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	started_at TIMESTAMP WITH TIME ZONE, 
	finished_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_sync_jobs_run_entity UNIQUE (run_id, entity), 
	FOREIGN KEY(run_id) REFERENCES sync_runs (id) ON DELETE CASCADE, 
	CONSTRAINT ck_sync_jobs_state CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'skipped'))
);

CREATE TABLE record_errors (
	id BIGSERIAL NOT NULL, 
	run_id BIGINT NOT NULL, 
	job_id BIGINT, 
	entity VARCHAR(64) NOT NULL, 
	side VARCHAR(3) NOT NULL, 
	record_id VARCHAR(64) NOT NULL, 
	code VARCHAR(100) NOT NULL, 
	message TEXT NOT NULL, 
	occurred_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(run_id) REFERENCES sync_runs (id) ON DELETE CASCADE, 
	FOREIGN KEY(job_id) REFERENCES sync_jobs (id) ON DELETE CASCADE, 
	CONSTRAINT ck_record_errors_side CHECK (side IN ('crm', 'erp'))
);

CREATE INDEX ix_record_errors_run ON record_errors (run_id);
