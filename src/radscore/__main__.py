from radscore.cli import main

raise SystemExit(main())
