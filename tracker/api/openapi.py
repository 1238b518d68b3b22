"""The REST API's contract (OpenAPI 3.0), served at /api/v1/openapi.json.

Written by hand, next to the code it describes (tracker/api/rest.py); tests/test_api_contract.py has
schemathesis generate requests from it against the running app and check every answer against it.
"""

from __future__ import annotations

from tracker.models import HISTORY_WHAT, Channel

CHANNELS = [c.value for c in Channel]
_NULLABLE_STRING = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}


def _body(media_type: str, ref: str) -> dict:
    return {media_type: {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _problem(description: str) -> dict:
    return {"description": description, "content": _body("application/problem+json", "Problem")}


def _json(ref: str, description: str) -> dict:
    return {"description": description, "content": _body("application/json", ref)}


MAX_INT = 2**31 - 1  # ids and seqs are 32-bit integers in the database


def _int_param(name: str, where: str, description: str, minimum: int = 0, maximum: int = MAX_INT, required=False):
    schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema}


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": schema}


_KIND_CODE = {"type": "string", "pattern": "^[A-Z0-9]{1,8}$"}
_HOME_ID = _int_param("home_id", "path", "The care home's id in the tracker.", minimum=1, required=True)
_LIMIT = _int_param("limit", "query", "At most this many (default 100).", minimum=1, maximum=1000)
_ERRORS = {
    "400": _problem(
        "A parameter or the body is malformed (not JSON, nested too deeply, a number too long); `detail` says "
        "which and why."
    ),
    "401": _problem("No valid token."),
    "429": _problem("Too many requests from this token or address: wait `Retry-After` seconds."),
}

_SCHEMAS = {
    "Problem": {
        "type": "object",
        "required": ["title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "What went wrong, in plain English."},
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "For 422: a message per field (a kind code, `note`, `closed_reason`...).",
            },
        },
    },
    "Kind": {
        "type": "object",
        "required": ["code", "name", "capacity", "available"],
        "properties": {
            "code": {"type": "string", "example": "NUR"},
            "name": {"type": "string", "example": "Nursing"},
            "capacity": {"type": "integer", "minimum": 0, "description": "Registered beds of this kind."},
            "available": {
                "type": "integer",
                "minimum": 0,
                "nullable": True,
                "description": "Beds vacant, staffed and accepting admissions now; null until first reported.",
            },
        },
    },
    "Home": {
        "type": "object",
        "required": ["id", "name", "locality", "region_id", "admissions", "kinds", "freshness", "confirmed_at"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "locality": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
            },
            "region_id": {"type": "integer"},
            "cqc_location_id": _NULLABLE_STRING,
            "address": {"type": "string"},
            "postcode": {"type": "string"},
            "phone": {"type": "string"},
            "latitude": {"type": "number", "nullable": True},
            "longitude": {"type": "number", "nullable": True},
            "admissions": {"type": "string", "enum": ["open", "closed"]},
            "closed_reason": _NULLABLE_STRING,
            "reopens_on": {"type": "string", "format": "date", "nullable": True},
            "note": {"type": "string"},
            "kinds": {"type": "array", "items": {"$ref": "#/components/schemas/Kind"}},
            "confirmed_at": {**_TIME, "nullable": True, "description": 'The last update or "no change".'},
            "confirmed_via": {
                "type": "string",
                "nullable": True,
                "enum": ["web", "sms", "voice", "api", "admin", "import", "demo", None],
            },
            "confirmed_via_words": _NULLABLE_STRING,
            "age_seconds": {"type": "integer", "nullable": True},
            "freshness": {
                "type": "string",
                "enum": ["fresh", "ageing", "unverified"],
                "description": "unverified: older than UNVERIFIED_AFTER (72 h): never count its beds as available.",
            },
            "not_answering_since": {
                **_TIME,
                "nullable": True,
                "description": "Set while escalated for not answering reminders.",
            },
            "seq": {"type": "integer", "nullable": True, "description": "The home's latest update."},
        },
    },
    "HomesPage": {
        "type": "object",
        "required": ["homes", "total", "limit", "offset", "seq", "server_time"],
        "properties": {
            "homes": {"type": "array", "items": {"$ref": "#/components/schemas/Home"}},
            "total": {"type": "integer", "description": "Homes matching, before limit and offset."},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "seq": {"type": "integer", "description": "The latest update's seq when this was read."},
            "server_time": _TIME,
        },
    },
    "Update": {
        "type": "object",
        "required": [
            "seq",
            "home_id",
            "region_id",
            "recorded_at",
            "channel",
            "actor",
            "changed",
            "what",
            "hold_id",
            "answer_id",
            "state",
        ],  # fmt: skip
        "properties": {
            "seq": {"type": "integer", "description": "Numbered across all homes, visible in this order."},
            "home_id": {"type": "integer"},
            "region_id": {"type": "integer"},
            "recorded_at": _TIME,
            "channel": {"type": "string", "enum": CHANNELS},
            "actor": {
                "type": "string",
                "description": 'How it came, naming no one ("text message from a contact"): never a name or number.',
            },
            "changed": {
                "type": "boolean",
                "description": 'Whether the home\'s state changed; false with `what` "no change": a confirmation.',
            },
            "what": {
                "type": "string",
                "enum": list(HISTORY_WHAT),
                "description": '"update" or "no change": the home confirmed its numbers. "hold": a hold placed or '
                'ended (`hold_id`); "answer": the home answered a bed request (`answer_id`). Neither of these '
                "confirms the numbers: `state.confirmed_at` says when the home last did.",
            },
            "hold_id": {"type": "integer", "nullable": True, "description": "The hold this row placed or ended."},
            "answer_id": {"type": "integer", "nullable": True, "description": "The home's answer this row records."},
            "state": {"type": "object", "description": "The home's state after the update, as boards are sent it."},
        },
    },
    "History": {
        "type": "object",
        "required": ["home_id", "updates"],
        "properties": {
            "home_id": {"type": "integer"},
            "updates": {"type": "array", "items": {"$ref": "#/components/schemas/Update"}},
        },
    },
    "UpdatesPage": {
        "type": "object",
        "required": ["updates", "next_since", "latest_seq", "more"],
        "properties": {
            "updates": {"type": "array", "items": {"$ref": "#/components/schemas/Update"}},
            "next_since": {"type": "integer", "description": "Pass as `since` next time."},
            "latest_seq": {"type": "integer"},
            "more": {"type": "boolean", "description": "true: ask again at once, there is more."},
        },
    },
    "Hold": {
        "type": "object",
        "description": "id, kind, hospital, hospital_id and until are as a home's state lists its holds on the board"
        " (the same names and values); the API adds home_id, created_at, ended_at, ended_how and, after a change, seq.",
        "required": [
            "id",
            "home_id",
            "kind",
            "hospital_id",
            "hospital",
            "created_at",
            "until",
            "ended_at",
            "ended_how",
        ],
        "properties": {
            "id": {"type": "integer"},
            "home_id": {"type": "integer"},
            "kind": {"type": "string", "example": "NUR"},
            "hospital_id": {"type": "integer"},
            "hospital": {"type": "string", "description": "The hospital the bed is held for."},
            "created_at": _TIME,
            "until": {**_TIME, "description": "The bed counts as held (not free) until then."},
            "ended_at": {**_TIME, "nullable": True},
            "ended_how": {"type": "string", "nullable": True, "enum": ["admitted", "released", "expired", None]},
            "seq": {"type": "integer", "description": "After placing or ending: the update that recorded it."},
        },
    },
    "HoldsPage": {
        "type": "object",
        "required": ["holds"],
        "properties": {"holds": {"type": "array", "items": {"$ref": "#/components/schemas/Hold"}}},
    },
}


_FHIR_BUNDLE = {
    "type": "object",
    "description": "A FHIR R4 searchset Bundle (application/fhir+json); docs/exports.md has the mapping.",
    "required": ["resourceType", "type", "total", "entry"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["searchset"]},
        "timestamp": _TIME,
        "total": {"type": "integer", "minimum": 0, "description": "Resources that matched (not those included)."},
        "link": {"type": "array", "items": {"type": "object"}},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["fullUrl", "resource", "search"],
                "properties": {
                    "fullUrl": {"type": "string"},
                    "resource": {
                        "type": "object",
                        "required": ["resourceType", "id"],
                        "properties": {
                            "resourceType": {"type": "string", "enum": ["Location", "HealthcareService"]},
                            "id": {"type": "string"},
                        },
                    },
                    "search": {
                        "type": "object",
                        "properties": {"mode": {"type": "string", "enum": ["match", "include"]}},
                    },
                },
            },
        },
    },
}


def _fhir(description: str) -> dict:
    return {"description": description, "content": _body("application/fhir+json", "FhirBundle")}


def _fhir_paths(kind_code: dict) -> dict:
    where = [
        _int_param("region", "query", "Only this region's homes.", minimum=1),
        _int_param("locality", "query", "Only this locality's homes.", minimum=1),
    ]
    return {
        "/fhir/HealthcareService": {
            "get": {
                "operationId": "fhirHealthcareServices",
                "summary": "FHIR R4: each kind of care at each home, with beds, and the homes' Locations",
                "description": "A searchset Bundle: a HealthcareService per home and kind of care (`match`), "
                "carrying capacity, beds available and when they were confirmed in the extension "
                "`.../StructureDefinition/bed-availability`, then each home's Location (`include`). Beds "
                "available are left out while the data is unverified; closed homes have 0 and `notAvailable`.",
                "parameters": [
                    *where,
                    {"name": "kind", "in": "query", "description": "Only this kind of care.", "schema": kind_code},
                ],
                "responses": {"200": _fhir("The services and their locations."), **_ERRORS},
            }
        },
        "/fhir/Location": {
            "get": {
                "operationId": "fhirLocations",
                "summary": "FHIR R4: each home as a Location (name, address, phone, position)",
                "parameters": where,
                "responses": {"200": _fhir("The homes' locations."), **_ERRORS},
            }
        },
    }


def _new_update(kinds) -> dict:
    counts = {
        "type": "object",
        "description": "Beds free now by kind of care the home offers.",
        "example": {"NUR": 2, "RES": 0},
    }
    if kinds:  # only the known codes; whether this home offers one is the write path's to say (422)
        counts |= {"properties": {code: {"type": "integer"} for code in kinds}, "additionalProperties": False}
    else:
        counts["additionalProperties"] = {"type": "integer"}
    return {
        "type": "object",
        "additionalProperties": False,
        "description": 'Only what changes. An empty object confirms the numbers recorded now ("no change").',
        "properties": {
            "counts": counts,
            "admissions": {"type": "string", "enum": ["open", "closed"]},
            "closed_reason": {"type": "string", "description": "Required when closing."},
            "reopens_on": {"type": "string", "format": "date"},
            "note": {"type": "string", "description": 'For discharge teams; "" clears it.'},
        },
    }


_HOLD_ID = _int_param("hold_id", "path", "The hold's id.", minimum=1, required=True)
_HOLD_REFUSED = _problem(
    "Refused by the write path, nothing recorded; `detail` says why (the hold has already ended; the home does "
    "not offer that kind, is closed, has no countable bed of it left, or its numbers are unverified; no such "
    "hospital)."
)


def _hold_paths(kind_code: dict) -> dict:
    def end(verb: str, summary: str, forbidden: str) -> dict:
        return {
            "post": {
                "operationId": f"{verb}Hold",
                "summary": summary,
                "parameters": [_HOLD_ID],
                "responses": {
                    "200": _json("Hold", "Ended: the hold as it is now, with the update's `seq`."),
                    "403": _problem(forbidden),
                    "404": _problem(
                        "No such hold, or one this token may not end (another home's, for a home's token; "
                        "another hospital's, for a hospital's token)."
                    ),
                    "409": _HOLD_REFUSED,
                    **_ERRORS,
                },
            }
        }

    new_hold = {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind"],
        "properties": {
            "kind": kind_code,
            "hospital_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_INT,
                "description": "The hospital it is held for: required with an admin token; a hospital's "
                "token holds for its own (leave it out, or send its own: another is 403).",
            },
            "hours": {
                "type": "integer",
                "minimum": 1,
                "maximum": 24,
                "description": "How long; HOLD_DEFAULT (4) if left out, never more than HOLD_MAX.",
            },
        },
    }
    return {
        "/holds": {
            "get": {
                "operationId": "listHolds",
                "summary": "The holds standing now, soonest to end first",
                "description": "A hospital's token sees its own hospital's holds; a home's token its home's.",
                "parameters": [_int_param("home", "query", "Only this home's holds.", minimum=1)],
                "responses": {"200": _json("HoldsPage", "The standing holds."), **_ERRORS},
            }
        },
        "/homes/{home_id}/holds": {
            "post": {
                "operationId": "placeHold",
                "summary": "Hold one bed of a kind at a home for a hospital",
                "description": "Through the same write path as the board: decided under the home's lock, so two "
                "systems holding the last bed get one hold and one 409. Boards count the bed out at once.",
                "parameters": [_HOME_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": new_hold}}},
                "responses": {
                    "201": _json("Hold", "Held, with the update's `seq`."),
                    "403": _problem(
                        "A care home's token (it cannot hold beds), a coordinator token made without a hospital "
                        "(it cannot hold), or a hospital's token naming another hospital."
                    ),
                    "404": _problem("No such home."),
                    "409": _HOLD_REFUSED,
                    **_ERRORS,
                },
            }
        },
        "/holds/{hold_id}/release": end(
            "release", "Release a hold: the bed is free again", "A coordinator token made without a hospital."
        ),
        "/holds/{hold_id}/admit": end(
            "admit",
            "The person arrived: end the hold and count one fewer bed free",
            "A care home's token, or a coordinator token made without a hospital.",
        ),
    }


_REQUEST_ID = _int_param("request_id", "path", "The bed request's id.", minimum=1, required=True)
_NOT_YOURS = _problem(
    "A care home's token (homes answer by text or by the link they are sent), or a coordinator token made "
    "without a hospital."
)
_NO_REQUEST = _problem("No such request, or another hospital's (for a hospital's token).")
_REQUEST_STATES = ["open", "chosen", "expired", "cancelled"]
_TIME_OR_NULL = {**_TIME, "nullable": True}
_REQUEST_SCHEMAS = {
    "BedRequest": {
        "type": "object",
        "required": [
            "id",
            "code",
            "state",
            "hospital",
            "kind",
            "from_date",
            "needs",
            "max_km",
            "locality_ids",
            "created_at",
            "expires_at",
            "closed_at",
            "hold_id",
            "homes",
        ],  # fmt: skip
        "properties": {
            "id": {"type": "integer"},
            "code": {"type": "string", "description": 'What homes reply with: "YES 4821".'},
            "state": {"type": "string", "enum": _REQUEST_STATES},
            "hospital": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
            "kind": {"type": "object", "properties": {"code": {"type": "string"}, "name": {"type": "string"}}},
            "from_date": {"type": "string", "format": "date"},
            "needs": {"type": "string", "description": 'What the bed must offer; "" once past its retention.'},
            "max_km": {"type": "number", "nullable": True},
            "locality_ids": {"type": "array", "items": {"type": "integer"}},
            "created_at": _TIME,
            "expires_at": _TIME,
            "closed_at": _TIME_OR_NULL,
            "hold_id": {"type": "integer", "nullable": True, "description": "The hold taking a home's YES."},
            "not_asked": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Only when asking: chosen homes no longer asked (their bed went, or no mobile).",
            },
            "homes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["asked_id", "home", "verdict", "answered_at", "free_now", "messages"],
                    "properties": {
                        "asked_id": {"type": "integer"},
                        "home": {"type": "object"},
                        "km": {"type": "number", "nullable": True},
                        "verdict": {"type": "string", "enum": ["yes", "no", "question"], "nullable": True},
                        "answered_at": _TIME_OR_NULL,
                        "admissions": {"type": "string", "enum": ["open", "closed"]},
                        "closed_reason": _NULLABLE_STRING,
                        "free_now": {
                            "type": "integer",
                            "nullable": True,
                            "description": "Beds of the kind it can count now: a YES from a home since closed or "
                            "full shows as such (0, or null when unverified).",
                        },
                        "messages": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
    },
    "RequestsPage": {
        "type": "object",
        "required": ["requests"],
        "properties": {"requests": {"type": "array", "items": {"$ref": "#/components/schemas/BedRequest"}}},
    },
    "Matches": {
        "type": "object",
        "required": ["homes"],
        "properties": {
            "homes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["home", "km", "free", "textable"],
                    "properties": {
                        "home": {"type": "object"},
                        "km": {"type": "number", "nullable": True},
                        "free": {"type": "integer"},
                        "textable": {"type": "boolean", "description": "false: no mobile to text; phone it."},
                    },
                },
            }
        },
    },
}


def _request_paths(kind_code: dict) -> dict:
    hospital_id = {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_INT,
        "description": "The hospital the bed is for: required with an admin token; a hospital's token asks for "
        "its own (leave it out, or send its own: another is 403).",
    }
    need = {
        "kind": kind_code,
        "from_date": {"type": "string", "format": "date", "description": "Today (UK) to 28 days ahead."},
        "needs": {
            "type": "string",
            "maxLength": 160,
            "description": "What the bed must offer, never who it is for: an NHS number or a date of birth is 400.",
        },
    }
    new_request = {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "from_date", "home_ids"],
        "properties": {
            **need,
            "hospital_id": hospital_id,
            "max_km": {"type": "number", "minimum": 1, "maximum": 200, "description": "Or `locality_ids`."},
            "locality_ids": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_INT}},
            "home_ids": {
                "type": "array",
                "minItems": 1,
                "maxItems": 200,
                "items": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
                "description": "The homes to ask, from `/requests/matches`: each is asked if it still matches.",
            },
        },
    }

    def act(operation: str, summary: str, body: dict | None, ok: str, conflict: str, status="200", extra=()) -> dict:
        post = {
            "operationId": operation,
            "summary": summary,
            "parameters": [_REQUEST_ID, *extra],
            "responses": {
                status: _json("BedRequest", ok),
                "403": _NOT_YOURS,
                "404": _NO_REQUEST,
                "409": _problem(conflict),
                **_ERRORS,
            },
        }
        if body is not None:
            post["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        return {"post": post}

    return {
        "/requests": {
            "get": {
                "operationId": "listRequests",
                "summary": "Bed requests, open ones first, then the latest",
                "description": "A hospital's token sees its own hospital's; an admin's every hospital's.",
                "parameters": [
                    _query("state", "Only requests in this state.", {"type": "string", "enum": _REQUEST_STATES}),
                    _LIMIT,
                ],
                "responses": {"200": _json("RequestsPage", "The requests."), "403": _NOT_YOURS, **_ERRORS},
            },
            "post": {
                "operationId": "openRequest",
                "summary": "Ask homes for one bed of a kind: each is texted once, with a one-tap link",
                "requestBody": {"required": True, "content": {"application/json": {"schema": new_request}}},
                "responses": {
                    "201": _json("BedRequest", "Asked: the request, with `not_asked`."),
                    "400": _problem(
                        "Malformed, or refused: `errors` says why, field by field (a need naming a patient, a "
                        "date passed, none of the homes can be asked now)."
                    ),
                    "403": _problem(
                        "A care home's token, a coordinator token made without a hospital, or a hospital's token "
                        "naming another hospital."
                    ),
                    "401": _ERRORS["401"],
                    "429": _ERRORS["429"],
                },
            },
        },
        "/requests/matches": {
            "get": {
                "operationId": "matchingHomes",
                "summary": "The homes that can count a bed of a kind now, nearest first",
                "parameters": [
                    _int_param("hospital_id", "query", hospital_id["description"], minimum=1),
                    {"name": "kind", "in": "query", "required": True, "schema": kind_code},
                    _query("from_date", "Today (UK) to 28 days ahead.", {"type": "string", "format": "date"}),
                    _query("max_km", "How far from the hospital, 1 to 200 km (or `locality`).", {"type": "string"}),
                    _query("locality", "Locality ids, separated by commas (or `max_km`).", {"type": "string"}),
                    _query("needs", "Checked as when asking (no patient identifiers).", {"type": "string"}),
                ],
                "responses": {
                    "200": _json("Matches", "The homes to ask."),
                    "400": _problem("A parameter is malformed or refused: `errors` says which."),
                    "403": _problem(
                        "A care home's token, a coordinator token made without a hospital, or a hospital's token "
                        "naming another hospital."
                    ),
                    "401": _ERRORS["401"],
                    "429": _ERRORS["429"],
                },
            }
        },
        "/requests/{request_id}": {
            "get": {
                "operationId": "getRequest",
                "summary": "One request: the need, every home asked, and what each said",
                "parameters": [_REQUEST_ID],
                "responses": {
                    "200": _json("BedRequest", "The request."),
                    "403": _NOT_YOURS,
                    "404": _NO_REQUEST,
                    **_ERRORS,
                },
            }
        },
        "/requests/{request_id}/choose": act(
            "chooseAnswer",
            "Take one home's YES: its bed is held for the hospital and the request closes, in one transaction",
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["home_id"],
                "properties": {
                    "home_id": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
                    "hours": {"type": "integer", "minimum": 1, "maximum": 24, "description": "As for a hold."},
                },
            },
            "Chosen: the request, closed, with its `hold_id`.",
            "Nothing held: the request has closed, the home has not answered yes, or its bed can no longer be held.",
        ),
        "/requests/{request_id}/cancel": act(
            "cancelRequest",
            "No bed is needed any more: the request closes and the homes that answered are told",
            None,
            "Cancelled.",
            "The request had already closed.",
        ),  # fmt: skip
        "/requests/{request_id}/homes/{asked_id}/reply": act(
            "replyToHome",
            "Answer a home's question: stored, and texted to the home",
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["text"],
                "properties": {"text": {"type": "string", "maxLength": 240}},
            },
            "Sent: the request, with the reply in the home's messages.",
            "The request has closed: nothing was sent.",
            status="201",
            extra=[_int_param("asked_id", "path", "The home's `asked_id` on the request.", minimum=1, required=True)],
        ),
    }


def document(base_url: str = "", kinds: list[str] | tuple[str, ...] = ()) -> dict:
    """The document, with the kinds of care the tracker knows now (they are data, not code)."""
    kind_code = {"type": "string", "enum": list(kinds)} if kinds else _KIND_CODE
    schemas = {**_SCHEMAS, **_REQUEST_SCHEMAS, "NewUpdate": _new_update(kinds), "FhirBundle": _FHIR_BUNDLE}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Care home bed tracker API",
            "version": "1",
            "description": (
                "Care homes' vacancies by kind of care, how fresh they are, and a way to record an update. "
                "Authenticate with `Authorization: Bearer <token>` (`flask --app tracker tokens create`). "
                "A token made for one home (`--home`) sees and updates only that home; a coordinator token made "
                "for a hospital (`--hospital`) holds beds for that hospital and ends only its holds. Errors are "
                "`application/problem+json`. The live feed for boards is the Socket.IO namespace `/board` "
                "(docs/board-events.md); `/updates` serves systems that poll instead."
            ),
        },
        "servers": [{"url": (base_url or "") + "/api/v1"}],
        "security": [{"token": []}],
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": {
            "/homes": {
                "get": {
                    "operationId": "listHomes",
                    "summary": "Homes with their availability and freshness, filtered as on the board",
                    "parameters": [
                        _int_param("region", "query", "Only this region's homes.", minimum=1),
                        _int_param("locality", "query", "Only this locality's homes.", minimum=1),
                        {
                            "name": "kind",
                            "in": "query",
                            "description": "Only homes offering this kind (a code: NUR, RES...).",
                            "schema": kind_code,
                        },
                        {
                            "name": "with_vacancies",
                            "in": "query",
                            "description": "Only homes with beds to count on: open, verified, of `kind` if given.",
                            "schema": {"type": "boolean"},
                        },
                        {
                            "name": "hide_unverified",
                            "in": "query",
                            "description": "Leave out homes whose data is unverified.",
                            "schema": {"type": "boolean"},
                        },
                        _LIMIT,
                        _int_param("offset", "query", "Skip this many (for paging)."),
                    ],
                    "responses": {"200": _json("HomesPage", "The homes, by id."), **_ERRORS},
                }
            },
            "/homes/{home_id}": {
                "get": {
                    "operationId": "getHome",
                    "summary": "One home",
                    "parameters": [_HOME_ID],
                    "responses": {
                        "200": _json("Home", "The home."),
                        "403": _problem("A token for another home."),
                        "404": _problem("No such home."),
                        **_ERRORS,
                    },
                }
            },
            "/homes/{home_id}/updates": {
                "post": {
                    "operationId": "recordUpdate",
                    "summary": 'Record an update (or a "no change" confirmation) for a home',
                    "description": "Goes through the same write path as the managers' form and texts: validated, "
                    "stored with the history, and published to every board after the commit.",
                    "parameters": [
                        _HOME_ID,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "description": "Makes a retry safe: the key is bound to the token, the home and "
                            "the body that first used it. Sent again with all three the same, the answer is the "
                            "update that key recorded (201), recorded once. Sent with another home or another "
                            "body, it is refused (422) and nothing is recorded: a new update needs a new key.",
                            "schema": {"type": "string", "maxLength": 64},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewUpdate"}}},
                    },
                    "responses": {
                        "201": _json("Update", "Recorded."),
                        "403": _problem("A token for another home."),
                        "404": _problem("No such home."),
                        "422": _problem(
                            "Not recorded: `errors` says why, field by field; or the Idempotency-Key was first "
                            "used for another home or another body (`errors` has `Idempotency-Key`)."
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/homes/{home_id}/history": {
                "get": {
                    "operationId": "homeHistory",
                    "summary": "A home's updates, oldest first",
                    "parameters": [_HOME_ID, _int_param("since", "query", "Only updates after this seq."), _LIMIT],
                    "responses": {
                        "200": _json("History", "The updates."),
                        "403": _problem("A token for another home."),
                        "404": _problem("No such home."),
                        **_ERRORS,
                    },
                }
            },
            "/updates": {
                "get": {
                    "operationId": "updatesSince",
                    "summary": "Every update after a seq, in order: the stream, for systems that poll",
                    "parameters": [
                        _int_param("since", "query", "The last seq you have (0 for all)."),
                        _int_param("region", "query", "Only this region's updates.", minimum=1),
                        _LIMIT,
                    ],
                    "responses": {"200": _json("UpdatesPage", "The updates."), **_ERRORS},
                }
            },
            **_hold_paths(kind_code),
            **_request_paths(kind_code),
            **_fhir_paths(kind_code),
        },
    }
