"""TableTalk engine: datasources, metadata, NL->SQL, policies, chats, table generation."""
