// The shapes of PROTOCOL.md, as the pages use them.

export type Role = "grid_worker" | "township_operator" | "department_staff" | "command_centre" | "admin";

export interface User {
  id: number;
  username: string;
  role: Role;
  township_code: string | null;
  department_id: number | null;
  display_name: string;
  township_name?: string | null;
  department_name?: string | null;
}

export interface AppConfig {
  tile_url: string;
  tile_attribution: string;
  county_name: string | null;
  center: [number, number] | null;
  near_boundary_m: number;
}

export interface JurisdictionProps {
  code: string;
  name: string;
  level: string;
  parent_code: string | null;
  population: number | null;
}

export interface Matter {
  code: string;
  name: string;
  row_number: number;
  platform_code: string;
  platform: string;
  keywords: string[];
  mode: string;
  lead_department: string;
  cooperating_departments: string[];
  sign_hours: number;
  handle_days: number;
}

export interface MattersResponse {
  list: { id: number; version: number; effective_from: string; county_code: string } | null;
  matters: Matter[];
}

export interface Suggestion {
  code: string;
  name: string;
  platform: string;
  score: number;
}

export interface ChainItem {
  code: string;
  name: string;
  level: string;
}

export interface LocateResult {
  raw: { lon: number; lat: number; crs: string };
  wgs84: { lon: number; lat: number };
  chain: ChainItem[];
  near_boundary: null | { code: string; name: string; level: string; distance_m: number; differs_at: string };
  reason: string | null;
}

export interface Department {
  id: number;
  name: string;
  short_name: string | null;
  kind: "county_department" | "stationed_unit" | "township_platform" | string;
  parent_id: number | null;
  township_code: string | null;
  platform_code: string | null;
}

export type EventStatus =
  | "reported"
  | "needs_triage"
  | "dispatched"
  | "in_progress"
  | "resolved"
  | "verified"
  | "closed"
  | "rated"
  | "reopened"
  | "invalid"
  | "merged";

export type AssignmentStatus = "pending" | "signed" | "fed_back" | "returned" | "cancelled";

export interface Assignment {
  id: number;
  event_id: number;
  department_id: number;
  department_name: string;
  on_behalf_of_name: string | null;
  on_behalf_of_id?: number | null;
  role: "lead" | "co" | "territorial" | string;
  round: number;
  status: AssignmentStatus | string;
  duties: string[];
  duties_text: string | null;
  sign_by: string | null;
  handle_by: string | null;
  signed_at: string | null;
  fed_back_at: string | null;
  feedback: string | null;
  return_reason: string | null;
  return_clause: string | null;
  created_at?: string | null;
  sign_alert?: number;
  handle_alert?: number;
}

export interface Step {
  id: number;
  at: string;
  action: string;
  actor: string | null;
  from_org: string | null;
  to_org: string | null;
  from_status: string | null;
  to_status: string | null;
  reason: string | null;
  assignment_id: number | null;
  data: Record<string, unknown> | null;
}

export interface Attachment {
  id: number;
  assignment_id: number | null;
  file_name: string;
  content_type: string;
  size_bytes: number;
}

export interface EventPublic {
  id: number;
  client_id: string;
  status: EventStatus | string;
  source: string;
  reported_at: string;
  received_at: string;
  lon: number;
  lat: number;
  raw_lon: number;
  raw_lat: number;
  crs: string;
  address: string | null;
  description: string;
  urgent: boolean;
  handled_on_site: boolean;
  county_code: string | null;
  township_code: string | null;
  village_code: string | null;
  grid_code: string | null;
  near_boundary_code: string | null;
  matter_code: string | null;
  platform_code: string | null;
  sign_by: string | null;
  handle_by: string | null;
  closed_at: string | null;
  rating: number | null;
  rework_count: number;
}

export interface EventDetail extends EventPublic {
  routing: Record<string, unknown> | null;
  assignments: Assignment[];
  steps: Step[];
  attachments?: Attachment[];
}

export interface Card {
  id: number;
  status: EventStatus | string;
  township_code: string | null;
  township_name: string | null;
  village_name: string | null;
  grid_name: string | null;
  platform_code: string | null;
  platform_name: string | null;
  matter_code: string | null;
  matter_name: string | null;
  description: string;
  address: string | null;
  urgent: boolean;
  lon: number;
  lat: number;
  received_at: string;
  sign_by: string | null;
  handle_by: string | null;
  closed_at: string | null;
  rating: number | null;
  rework_count: number;
  updated_at: string;
  assignments: Assignment[];
}

export interface Delta {
  seq: number;
  type: string;
  event: Card;
  steps: Step[];
  at: string;
}

export interface BoardSnapshot {
  seq: number;
  epoch: string | number;
  type: "snapshot";
  board: "county" | "township" | "department";
  key: string;
  events: Card[];
  department_ids?: number[];
}

export interface EventSnapshot {
  seq: number;
  epoch: string | number;
  type: "snapshot";
  board: "event";
  key: string;
  event: EventDetail;
}

export interface DeltasMessage {
  seq: number;
  type: "deltas";
  deltas: Delta[];
}
