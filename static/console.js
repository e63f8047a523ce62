// Console enhancements; every action also works without this script.
"use strict";
