"""Why a record synced or not (``explain``) and where the two sides drifted apart (``audit``)."""
