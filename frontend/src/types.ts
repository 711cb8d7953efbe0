// The pages' types. The API's shapes are aliases of the types generated from its OpenAPI
// document (src/api-types.ts, rewritten by `./dev types`); only what the document does not
// describe, the websocket frames of PROTOCOL.md, is written out here.

import type { components } from "./api-types";

type Schemas = components["schemas"];

export type Role = Schemas["UserRole"];
export type User = Schemas["UserPublic"];
export type AppConfig = Schemas["AppConfig"];
export type JurisdictionProps = Schemas["JurisdictionProperties"];
export type Matter = Schemas["MatterPublic"];
export type MattersResponse = Schemas["MattersInForce"];
export type Suggestion = Schemas["MatterSuggestion"];
export type Suggestions = Schemas["MatterSuggestions"];
export type ChainItem = Schemas["ChainItem"];
export type LocateResult = Schemas["PlacementPublic"];
export type Department = Schemas["DepartmentPublic"];
export type EventStatus = Schemas["EventStatus"];
export type AssignmentStatus = Schemas["AssignmentStatus"];
export type Step = Schemas["StepPublic"];
export type Attachment = Schemas["AttachmentPublic"];
export type EventPublic = Schemas["EventPublic"];
export type EventDetail = Schemas["EventDetail"];
export type Token = Schemas["TokenPublic"];

/** An assignment as the API sends it; on a board's card it also carries its deadline alerts. */
export type Assignment = Schemas["AssignmentPublic"] & {
  on_behalf_of_id?: number | null;
  created_at?: string | null;
  sign_alert?: number;
  handle_alert?: number;
};

// ---- The websocket frames (PROTOCOL.md, "Live boards"): not in the OpenAPI document --------

export interface Card {
  id: number;
  status: EventStatus;
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
