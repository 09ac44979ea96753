from opsanalytics.cli import main

raise SystemExit(main())
