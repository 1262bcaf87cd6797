"use strict";
// Converts a CSDL XML file with the OASIS odata-csdl package in strict mode,
// then validates the CSDL JSON against the schema that package ships.
// Prints the CSDL JSON on success; exits 1 with the reasons on any error.

const fs = require("node:fs");
const path = require("node:path");
const Ajv = require("ajv");
const csdl = require("odata-csdl");

function fail(message) {
  process.stderr.write(message + "\n");
  process.exit(1);
}

const source = process.argv[2];
if (!source) fail("usage: node check.js METADATA.xml");

const messages = [];
let json;
try {
  json = csdl.xml2json(fs.readFileSync(source), { strict: true, messages });
} catch (error) {
  const where = error.parser ? ` (line ${error.parser.line}, column ${error.parser.column})` : "";
  fail(`odata-csdl refused the document${where}: ${error.message}`);
}
if (messages.length > 0) {
  fail("odata-csdl reported:\n" + messages.map((m) => `  ${m.message}`).join("\n"));
}

const schemaPath = path.join(path.dirname(require.resolve("odata-csdl")), "..", "schemas", "csdl.schema.json");
const schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
if (!validate(json)) {
  fail("CSDL JSON does not match csdl.schema.json:\n" + ajv.errorsText(validate.errors, { separator: "\n  " }));
}
process.stdout.write(JSON.stringify(json));
