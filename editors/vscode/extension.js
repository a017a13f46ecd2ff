// Starts `netdsl lsp` (over stdio) for .net files. Everything else (diagnostics, hover,
// go to definition, completion, symbols, formatting) comes from the server.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("netdsl");
  const [command, ...args] = config.get("server.command", ["netdsl", "lsp"]);
  client = new LanguageClient(
    "netdsl",
    "netdsl language server",
    { command, args },
    {
      documentSelector: [{ scheme: "file", language: "netdsl" }],
      initializationOptions: { inlayHints: config.get("inlayHints", false) },
      synchronize: {
        configurationSection: "netdsl",
        fileEvents: vscode.workspace.createFileSystemWatcher("**/*.net"),
      },
    }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
