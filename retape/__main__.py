from retape.cli import main

raise SystemExit(main())
