// The API's shapes, as the backend's OpenAPI description names them (SPEC §2, §9).

export type TaskStatus = "pending" | "running" | "completed" | "failed";
export type StageName = "build" | "push" | "scaffold" | "deploy";

export interface Problem {
  type?: string;
  title: string;
  status?: number;
  detail?: string;
  code?: string;
  instance?: string;
  errors?: { field?: string; message?: string; msg?: string }[];
}

export interface Page<T> {
  items: T[];
  next_token?: string | null;
}

export interface Workspace {
  id: string;
  name: string;
  description: string;
  owner: string;
  created_at: string;
  updated_at: string;
}

export type DeploymentStatus = "not_deployed" | "building" | "deploying" | "deployed" | "failed";

export interface FunctionItem {
  id: string;
  workspace_id: string;
  name: string;
  runtime: string;
  description: string;
  variables: Record<string, string>;
  replicas: number;
  created_at: string;
  updated_at: string;
  latest_task_id?: string | null;
  wasm_path?: string | null;
  image_url?: string | null;
  deployment_status: DeploymentStatus;
  endpoint?: string | null;
}

export interface Stage {
  name: StageName;
  status: TaskStatus;
  started_at?: string | null;
  finished_at?: string | null;
  job_id?: string | null;
}

export interface Task {
  task_id: string;
  workspace_id: string;
  app_name: string;
  function_id?: string | null;
  type: string;
  status: TaskStatus;
  stage?: StageName | null;
  stages: Stage[];
  result: Record<string, unknown>;
  error_code?: string | null;
  error_message?: string | null;
  created_at: string;
  updated_at: string;
}

export interface LogEntry {
  time: string;
  source: string;
  task_id?: string;
  stage?: string | null;
  level?: string;
  message: string;
  replica?: string;
  stream?: string;
  invocation_id?: string;
}

export interface TestResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  body_encoding?: string;
  stdout?: string;
  stderr?: string;
  duration_ms?: number;
  error_code?: string | null;
}

export const TERMINAL: ReadonlySet<TaskStatus> = new Set(["completed", "failed"]);
