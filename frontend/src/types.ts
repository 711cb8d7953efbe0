// The pages' types. The API's shapes, and the boards' cards, are aliases of the types generated
// from its OpenAPI document (src/api-types.ts, rewritten by `./dev types`); only what the
// document does not describe, the websocket frames around the cards (PROTOCOL.md), is written
// out here.

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
export type RedispatchOptions = Schemas["RedispatchOptions"];
export type EventStatus = Schemas["EventStatus"];
export type AssignmentStatus = Schemas["AssignmentStatus"];
export type Step = Schemas["StepPublic"];
export type Attachment = Schemas["AttachmentPublic"];
export type EventPublic = Schemas["EventPublic"];
export type EventDetail = Schemas["EventDetail"];
export type Token = Schemas["TokenPublic"];
export type Health = Schemas["HealthPublic"];
export type Clauses = Schemas["ClausesPublic"];

/** An assignment as the API sends it; on a board's card (AssignmentCard) it carries more. */
export type Assignment = Schemas["AssignmentPublic"] &
  Partial<Pick<Schemas["AssignmentCard"], "on_behalf_of_id" | "created_at" | "sign_alert" | "handle_alert">>;

// ---- The websocket frames (PROTOCOL.md, "Live boards") -------------------------------------

/** A board's card: the one shape the server sends (EventCard), added to the OpenAPI document. */
export type Card = Schemas["EventCard"];

/**
 * A board's delta: what changed on one event's card (PROTOCOL.md). `set.e` holds the event's
 * changed fields (`parts`: its parts' ids, in order, when they changed), `set["<part id>"]`
 * a part's. `v` is the card's new version, `p` the one it was compared with: 0 means the card
 * whole (fields never set are null).
 */
export interface Delta {
  seq: number;
  type: string;
  id: number;
  at: string;
  v: number;
  p: number;
  set: Record<string, Record<string, unknown>>;
}

/** An event page's delta: the whole card and the steps of the change. */
export interface EventDelta {
  seq: number;
  type: string;
  event: Card;
  steps: Step[];
  at: string;
}

/** The cards a board fetches by id (GET /api/boards/…/cards?ids=…). */
export type BoardCards = Schemas["EventCards"];

export interface BoardSnapshot {
  seq: number;
  epoch: string | number;
  type: "snapshot";
  board: "county" | "township" | "department";
  key: string;
  events: Card[];
  department_ids?: number[];
  /** The board's last deltas up to `seq`, newest first: the feed's history after a reload. */
  recent?: Delta[];
}

export interface EventSnapshot {
  seq: number;
  epoch: string | number;
  type: "snapshot";
  board: "event";
  key: string;
  event: EventDetail;
}

export interface DeltasMessage<D = Delta> {
  seq: number;
  type: "deltas";
  deltas: D[];
}
